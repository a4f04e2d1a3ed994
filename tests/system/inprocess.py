"""The whole system in this process: the composition root's store, API and execution service,
the real scheduler, with a fake clock and a fake executor (`brisa.testing.fakes`).

Tests talk to it as a user would, through the REST API (FastAPI's TestClient), and move it
forward by hand: `settle()` runs scheduling passes and lets launched workers play their
scripts until nothing changes; `advance(seconds)` moves the clock, then settles.
"""

from __future__ import annotations

import urllib.parse
import warnings
from pathlib import Path
from typing import Any

from brisa import DAG
from brisa.authoring.serialize import serialize
from brisa.core.planner import Limits
from brisa.core.records import AttemptRef
from brisa.settings import load
from brisa.system import System
from brisa.testing.fakes import FakeClock, FakeExecutor, FakeProcesses

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx is what we use
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# The settings the tests rely on, named here so that a test reads its numbers from one place.
HEARTBEAT_TIMEOUT = 30.0
QUEUED_TIMEOUT = 120.0
EXIT_GRACE = Limits().exit_grace  # not a setting: how long a finished task's worker may linger
RELAUNCH_AFTER = Limits().relaunch_after  # not a setting: when a worker that died is relaunched


class ApiFailed(AssertionError):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class InProcess:
    def __init__(
        self, home: Path, parallelism: int = 8, settings: dict[str, str] | None = None
    ) -> None:
        environ = {
            "BRISA__SCHEDULER__HEARTBEAT_TIMEOUT": f"{HEARTBEAT_TIMEOUT:g}s",
            "BRISA__SCHEDULER__QUEUED_TIMEOUT": f"{QUEUED_TIMEOUT:g}s",
            "BRISA__EXECUTOR__PARALLELISM": str(parallelism),
            **(settings or {}),
        }
        self.clock = FakeClock()
        self.system = System.create(load(home, environ=environ), clock=self.clock)
        self.app = self.system.api_app()
        # As a client on this machine reaches it (the API answers to its own names only).
        self.api = TestClient(self.app, base_url=self.system.settings.api_url)
        self.execution = self.app.state.ctx.execution  # what the workers call
        self.processes = FakeProcesses()
        self.awake = 0.0
        self.start_scheduler()

    @property
    def store(self) -> Any:
        return self.system.store

    def start_scheduler(self) -> None:
        """(Re)start the scheduler with a new executor over the same process table: a
        restart finds the workers that kept running."""
        settings = self.system.settings
        self.executor = FakeExecutor(
            settings.executor.parallelism,
            worker=self.execution,
            processes=self.processes,
            task_of=self._task_of,
        )
        self.scheduler = self.system.build_scheduler(self.executor)
        # The scheduler's measure of its own liveness: it moves only in `pause`. (`advance` is
        # time in which the scheduler ran its passes and found nothing to do.)
        self.scheduler.awake = lambda: self.awake

    def _task_of(self, ref: AttemptRef) -> str:
        return str(self.store.tasks_by_id({ref.ti_id})[ref.ti_id].task_id)

    def close(self) -> None:
        self.api.close()
        self.system.shutdown()

    # --- moving time ------------------------------------------------------------------------
    def settle(self, passes: int = 50) -> None:
        """Scheduling passes, each followed by the launched workers playing their scripts,
        until a pass changes nothing, starts or stops no worker."""
        for _ in range(passes):
            alive = self.executor.alive()
            changed = self.scheduler.run_once()
            started = self.executor.run_pending()
            if not changed and not started and self.executor.alive() == alive:
                return
        raise AssertionError(f"the system still changes after {passes} passes")

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def pause(self, seconds: float) -> None:
        """The scheduler's process is stopped for `seconds` (SIGSTOP, a frozen VM, a machine
        asleep): time passes without a pass, then it resumes."""
        self.clock.advance(seconds)
        self.awake += seconds
        self.settle()

    # --- the REST API -----------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> Any:
        # As the CLI does: every request that changes something says its body is JSON.
        headers = {"Content-Type": "application/json"} if method != "GET" else None
        answer = self.api.request(method, path, json=body, headers=headers)
        if answer.status_code >= 400:
            raise ApiFailed(answer.status_code, answer.json().get("detail"))
        return answer.json()

    def dag_path(self, dag_id: str) -> str:
        return f"/api/v1/teams/default/dags/{dag_id}"

    def run_path(self, dag_id: str, run_id: str) -> str:
        return f"{self.dag_path(dag_id)}/runs/{urllib.parse.quote(run_id, safe='')}"

    def publish(self, dag: DAG) -> None:
        """Store the DAG as the DAG processor would after parsing its file."""
        fileloc = f"{dag.dag_id}.py"
        spec = serialize(dag, fileloc=fileloc)
        self.store.publish_dag("default", spec, fileloc=fileloc, code_version="", now=self.clock())

    def trigger(self, dag_id: str, run_id: str = "r1", conf: Any = None) -> Any:
        body = {"run_id": run_id, "conf": conf or {}}
        return self.request("POST", f"{self.dag_path(dag_id)}/runs", body)

    def run(self, dag_id: str, run_id: str = "r1") -> Any:
        return self.request("GET", self.run_path(dag_id, run_id))

    def task(self, dag_id: str, task_id: str, run_id: str = "r1") -> Any:
        return self.request("GET", f"{self.run_path(dag_id, run_id)}/tasks/{task_id}")

    def states(self, dag_id: str, run_id: str = "r1") -> dict[str, tuple[str, int]]:
        """Each task's state and try number, as the API shows the run."""
        run = self.run(dag_id, run_id)
        return {t["task_id"]: (t["state"], t["try_number"]) for t in run["tasks"]}
