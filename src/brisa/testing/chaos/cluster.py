"""The Brisa processes of a chaos run: N `brisa scheduler`, one `brisa api` (the REST API
runs are triggered through, and the execution API workers report to) and one
`brisa dag-processor`, each with a home folder of its own, as on separate machines that share
the database, the log store and the DAG folder.

Every process, and every worker they start, carries `CHAOS_MARK=<folder>` in its
environment, so `kill_all()` finds and ends all of them whatever happened, even workers in
sessions of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brisa.testing.server import free_port, processes_with_env

MARK = "CHAOS_MARK"
# Only 127.0.0.1 is ever contacted: no proxy from the environment may reroute it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# The DAG every run triggers: `width` short tasks between a first and a last one. Each task
# appends `run_id,task_id,try,pid,start` to the witness file when its code begins and `...,end`
# when it ends, with O_APPEND (one write each: lines never interleave), a second record of
# what ran beside the transition table.
DAG_FILE = """
import os, random, time
from datetime import timedelta
from brisa import DAG, get_current_context, task

WITNESS = {witness!r}

def note(what):
    ctx = get_current_context()
    line = f"{{ctx.run_id}},{{ctx.task_id}},{{ctx.try_number}},{{os.getpid()}},{{what}}\\n"
    fd = os.open(WITNESS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)

def witness():
    note("start")
    time.sleep(random.uniform(0.05, {max_sleep}))
    note("end")

with DAG("chaos", retries=3, retry_delay=timedelta(seconds=1)):

    @task
    def first():
        witness()

    @task
    def last():
        witness()

    middle = []
    for n in range({width}):
        @task(task_id=f"t{{n:02d}}", pool={pool!r})
        def work():
            witness()
        middle.append(work())
    f = first()
    end = last()
    for m in middle:
        f >> m >> end
"""


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    stopped: bool = False

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.stopped = False

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the process alone (its workers live on), and reap it."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(10)
        self.stopped = False


# The pool of the middle tasks when the suite caps them (`Cluster.pool_slots`).
POOL = "chaos"


@dataclass
class Cluster:
    folder: Path
    database_url: str  # for the API and the DAG processor
    scheduler_database_url: str  # for the schedulers (through the proxy)
    schedulers: int = 3
    width: int = 8  # tasks between the first and the last of each run
    max_sleep: float = 0.3
    parallelism: int = 8
    # Slots of the pool the middle tasks take (POOL, created once the API answers); 0: no pool
    # of their own (the team's default pool, larger than anything the suite runs at once).
    pool_slots: int = 0
    scheduler_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.dags = self.folder / "dags"
        self.witness = self.folder / "witness.log"
        self.logs = self.folder / "process-logs"
        for path in (self.dags, self.logs, self.folder / "task-logs"):
            path.mkdir(parents=True, exist_ok=True)
        text = DAG_FILE.format(
            witness=str(self.witness),
            width=self.width,
            max_sleep=self.max_sleep,
            pool=POOL if self.pool_slots else "default_pool",
        )
        (self.dags / "chaos.py").write_text(text)

    @property
    def tasks_per_run(self) -> int:
        return self.width + 2

    def _env(
        self, name: str, database_url: str, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        home = self.folder / "homes" / name
        home.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            MARK: str(self.folder),
            "BRISA_HOME": str(home),
            "BRISA__DATABASE__URL": database_url,
            "BRISA__CORE__SECRET_KEY": "chaos-suite-secret-key-of-32-characters-or-more",
            "BRISA__API__PORT": str(self.api_port),
            "BRISA__LOGS__LOCATION": f"file://{self.folder / 'task-logs'}",
            "BRISA__EXECUTOR__PARALLELISM": str(self.parallelism),
            "BRISA__DAGS__FOLDER": str(self.dags),
            **(extra or {}),
        }

    def _process(self, name: str, *args: str, env: dict[str, str]) -> Process:
        argv = [sys.executable, "-m", "brisa", *args]
        proc = Process(name, argv, env, self.logs / f"{name}.log")
        self.processes[name] = proc
        proc.start()
        return proc

    def start(self) -> None:
        self._process("api", "api", env=self._env("api", self.database_url))
        self._process("dag-processor", "dag-processor", env=self._env("dags", self.database_url))
        for slot in range(self.schedulers):
            self.start_scheduler(slot)

    def scheduler_name(self, slot: int) -> str:
        return f"scheduler-{slot}"

    def start_scheduler(self, slot: int) -> Process:
        """Start (or restart, in the same home: a restarted machine) the scheduler `slot`."""
        name = self.scheduler_name(slot)
        env = self._env(name, self.scheduler_database_url, self.scheduler_env)
        return self._process(name, "scheduler", env=env)

    def scheduler(self, slot: int) -> Process:
        return self.processes[self.scheduler_name(slot)]

    # --- REST -----------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.api_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with _OPENER.open(req, timeout=timeout) as resp:
            payload = resp.read()
            return json.loads(payload) if payload else None

    def trigger(self) -> str | None:
        """Trigger a run of the DAG; its run id, or None when the API did not take it."""
        try:
            answer = self.request("POST", "/api/v1/teams/default/dags/chaos/runs", {"conf": {}})
        except (OSError, ValueError):  # urllib's errors are OSErrors
            return None
        return str(answer["run_id"])

    def wait_ready(self, timeout: float) -> None:
        """Until the API answers and lists the DAG (and the pool is made, when the middle
        tasks have one); raises with the processes' logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if self.request("GET", "/api/v1/teams/default/dags/chaos"):
                    if self.pool_slots:
                        body = {"slots": self.pool_slots, "description": "chaos suite"}
                        self.request("PUT", f"/api/v1/teams/default/pools/{POOL}", body)
                    return
            for proc in self.processes.values():
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{self.tail(proc)}")
            time.sleep(0.2)
        logs = "\n".join(self.tail(p) for p in self.processes.values())
        raise TimeoutError(f"the API did not list the DAG within {timeout:g}s\n{logs}")

    def tail(self, proc: Process, size: int = 3000) -> str:
        text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
        return f"--- {proc.name} ---\n{text[-size:]}"

    # --- the end --------------------------------------------------------------------------
    def marked(self) -> list[int]:
        """Live processes of this run (ours and the workers they started)."""
        return processes_with_env(f"{MARK}={self.folder}")

    def kill_all(self) -> None:
        """SIGKILL every process of the run, whatever state it is in, and reap ours."""
        for _ in range(3):  # a process may fork while we kill
            for pid in self.marked():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
            for proc in self.processes.values():
                if proc.popen is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.popen.wait(5)
            if not self.marked():
                return
            time.sleep(0.2)
