"""`brisa task run`: the one code path of every attempt, whatever the executor.

It holds no database credentials: it talks to the execution API with a token valid for this
attempt only. Start-up time is a product feature, so this module imports no web framework,
no ORM and no CLI library (import-linter checks it).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from brisa.context import TaskContext
from brisa.runner import Outcome, run_python, run_shell


class AttemptStale(Exception):
    """The API says this attempt is no longer current (cleared, cancelled, timed out)."""


@dataclass(frozen=True)
class WorkerConfig:
    """What the executor hands the worker explicitly (environment), printed at start."""

    api_url: str
    token: str
    dags_folder: str
    heartbeat_interval: float
    report_timeout: float

    @classmethod
    def from_env(cls, environ: dict[str, str]) -> WorkerConfig:
        return cls(
            api_url=environ.get("BRISA_API_URL", "http://127.0.0.1:8080").rstrip("/"),
            token=environ.get("BRISA_EXECUTION_TOKEN", ""),
            dags_folder=environ.get("BRISA_DAGS_FOLDER", ""),
            heartbeat_interval=float(environ.get("BRISA_HEARTBEAT_INTERVAL", "5")),
            report_timeout=float(environ.get("BRISA_REPORT_TIMEOUT", "600")),
        )

    def redacted(self) -> dict[str, Any]:
        return {**self.__dict__, "token": "***" if self.token else ""}


class ExecutionClient:
    def __init__(self, config: WorkerConfig, ti_id: int, try_number: int) -> None:
        self.config = config
        self.base = f"{config.api_url}/execution/v1/attempts/{ti_id}/{try_number}"

    def call(self, verb: str, body: dict[str, Any], *, patience: float) -> Any:
        """POST with retries on connection errors for up to `patience` seconds."""
        deadline = time.monotonic() + patience
        delay = 0.2
        while True:
            request = urllib.request.Request(
                f"{self.base}/{verb}",
                data=json.dumps(body).encode(),
                method="POST",
                headers={
                    "Authorization": f"Bearer {self.config.token}",
                    "Content-Type": "application/json",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    payload = response.read()
                    return json.loads(payload) if payload else None
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                if exc.code == 409:
                    raise AttemptStale(detail) from None
                if exc.code < 500 or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"execution API refused {verb}: {exc.code} {detail}"
                    ) from None
            except (urllib.error.URLError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"execution API unreachable for {verb}: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _log(message: str) -> None:
    stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
    print(f"[{stamp}] brisa: {message}", flush=True)


def _heartbeat(client: ExecutionClient, stop: threading.Event, finishing: threading.Event) -> None:
    """Heartbeat until stopped, also while the result is being reported (so a worker waiting
    for the API to come back is not taken for dead)."""
    while not stop.wait(client.config.heartbeat_interval):
        try:
            client.call("heartbeat", {}, patience=client.config.heartbeat_interval)
        except AttemptStale:
            if finishing.is_set():
                return  # the finish call says what became of the result
            _log("this attempt is no longer current (cleared, cancelled or timed out); stopping")
            os.killpg(os.getpgid(0), signal.SIGTERM)
        except RuntimeError as exc:
            _log(f"heartbeat failed: {exc}")


def _context(item: dict[str, Any]) -> TaskContext:
    return TaskContext(
        team=item["team"],
        dag_id=item["dag_id"],
        task_id=item["task_id"],
        run_id=item["run_id"],
        try_number=item["try_number"],
        logical_date=datetime.fromisoformat(item["logical_date"]),
        data_interval_start=datetime.fromisoformat(item["data_interval_start"]),
        data_interval_end=datetime.fromisoformat(item["data_interval_end"]),
        params=item["params"],
        code_version=item.get("code_version") or None,
    )


def execute(item: dict[str, Any], dags_folder: Path) -> Outcome:
    """Run the task described by a work item (from the execution API's start call)."""
    task, ctx = item["task"], _context(item)
    if task["kind"] == "shell":
        return run_shell(task, ctx, dags_folder)
    from brisa.loader import load_file

    dags, error = load_file(dags_folder / item["fileloc"], dags_folder)
    if error is not None:
        print(error.traceback, file=sys.stderr)
        return Outcome(False, error=f"cannot import {error.filename}: {error.message}")
    dag = next((d for d in dags if d.dag_id == item["dag_id"]), None)
    found = dag.tasks.get(item["task_id"]) if dag else None
    fn = getattr(found, "fn", None)
    if fn is None:
        return Outcome(
            False,
            error=f"task {item['task_id']} is no longer a Python task of "
            f"DAG {item['dag_id']} in {item['fileloc']}",
        )
    return run_python(fn, task, ctx, item["upstream_values"])


def run(ti_id: int, try_number: int, config: WorkerConfig) -> int:
    """Start the attempt, run it, report the outcome. Exit code 0 on success."""
    client = ExecutionClient(config, ti_id, try_number)
    _log(f"attempt {try_number} of task instance {ti_id}; config {json.dumps(config.redacted())}")
    try:
        item = client.call(
            "start", {"hostname": socket.gethostname(), "pid": os.getpid()}, patience=30
        )
    except (AttemptStale, RuntimeError) as exc:
        _log(f"cannot start: {exc}")
        return 3
    _log(
        f"running {item['team']}/{item['dag_id']} {item['run_id']} task {item['task_id']} "
        f"(code version {item.get('code_version') or 'local folder'})"
    )
    stop, finishing = threading.Event(), threading.Event()
    threading.Thread(target=_heartbeat, args=(client, stop, finishing), daemon=True).start()
    started = time.monotonic()
    outcome = execute(item, Path(config.dags_folder))
    finishing.set()
    elapsed = time.monotonic() - started
    state = "success" if outcome.success else "failed"
    _log(f"task {state} in {elapsed:.3f}s" + (f": {outcome.error}" if outcome.error else ""))
    body = {"state": state, "return_value": outcome.return_value, "error": outcome.error}
    try:
        result = client.call("finish", body, patience=config.report_timeout)
        _log(f"recorded as {result['state']}")
    except (AttemptStale, RuntimeError) as exc:
        _log(f"result not recorded: {exc}")
        return 3
    finally:
        stop.set()
    return 0 if outcome.success else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="brisa task run", description="Run one task attempt (started by an executor)."
    )
    parser.add_argument("--ti", type=int, required=True, help="task instance id")
    parser.add_argument("--try", dest="try_number", type=int, required=True, help="try number")
    parser.add_argument("--scope", default="", help="the executor that started this worker")
    args = parser.parse_args(argv)
    config = WorkerConfig.from_env(dict(os.environ))
    # The token is for this process's calls only: user code and its children never see it.
    os.environ.pop("BRISA_EXECUTION_TOKEN", None)
    return run(args.ti, args.try_number, config)
