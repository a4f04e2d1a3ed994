"""W5 worker cost: how long a worker takes from being started to running the task function,
started by the local executor's own launchers (the fork server, its default, and `spawn`: a new
`python -m brisa task run` interpreter), against a tiny execution API served here; and cold
`import brisa` / `brisa --help` times. The fork server is measured both ways the executor uses
it: forking the worker itself (`worker.*`: the DAG file imported in the attempt) and from a
warm process that imported the file once (`worker_warm.*`: `[executor] warm_imports`, the
default).

The fake execution API answers `start` with a work item for a task whose function writes
`time.time()` to a file; that instant minus the instant just before the launch is the figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import dagfiles
from brisa.core.records import CodeRef, WorkItem
from brisa.core.spec import PythonCall, TaskSpec
from brisa.executor.local.launchers import Launcher, launcher
from brisa.worker.warmed import WarmKey

_PATH = re.compile(r"^/execution/v1/attempts/(\d+)/(\d+)/(start|heartbeat|finish)$")
_WORKER_FILE = "bench_worker.py"


def work_item(
    params: dict[str, Any],
    *,
    dag_id: str = "bench_worker",
    task_id: str = "mark",
    fileloc: str = _WORKER_FILE,
    run_id: str = "manual__bench",
) -> dict[str, Any]:
    """What the real API's `start` returns, for a Python task whose function is `task_id`
    (by default the task of `dagfiles.worker_dag()`)."""
    when = datetime.now(UTC)
    task = TaskSpec(task_id, PythonCall(function=task_id))
    item = WorkItem(
        team="default",
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        try_number=1,
        logical_date=when,
        data_interval_start=when,
        data_interval_end=when,
        params=params,
        fileloc=fileloc,
        code_version="",
        task=task,
        upstream_values={},
    )
    return item.to_json()


class FakeExecutionApi(ThreadingHTTPServer):
    """Serves start / heartbeat / finish on 127.0.0.1 and notes when `start` arrived."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.item: dict[str, Any] = {}
        self.start_called_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeExecutionApi
    protocol_version = "HTTP/1.1"  # connections kept alive, as the real API does ...
    disable_nagle_algorithm = True  # ... with TCP_NODELAY (headers and body are two writes)

    def do_POST(self) -> None:
        arrived = time.time()
        match = _PATH.match(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if match is None:
            self._reply(404, {"detail": "not found"})
        elif match.group(3) == "start":
            self.server.start_called_at = arrived
            self._reply(200, self.server.item)
        elif match.group(3) == "heartbeat":
            self._reply(204, None)
        else:
            self._reply(200, {"state": "success"})

    def _reply(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def execution_api() -> Iterator[FakeExecutionApi]:
    """A fake execution API served on 127.0.0.1 from a thread, for the block's duration."""
    api = FakeExecutionApi()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()


def has_exited(pid: int) -> bool:
    """The worker is gone, or a zombie (the fork server's children are reaped by the kernel,
    so they are not ours to wait for)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_exit(pid: int, timeout: float) -> None:
    """Until the worker has exited: reap it if it is our child (spawn), else watch /proc."""
    try:
        os.waitpid(pid, 0)
        return
    except ChildProcessError:
        pass
    deadline = time.monotonic() + timeout
    while not has_exited(pid):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"worker {pid} still running after {timeout:g}s")
        time.sleep(0.001)


def start_worker(
    api: FakeExecutionApi,
    launch: Launcher,
    folder: Path,
    item: dict[str, Any],
    env: dict[str, str] | None = None,
    warm: bool = False,
) -> tuple[float, int]:
    """Start one worker for `item` (the answer to its `start` call) through the executor's
    launcher (naming the DAG file to keep warm with `warm`), its output in
    `outputs(folder)`/attempt-<run id>.log; returns the wall time just before the launch call
    and the worker's pid."""
    api.item = item
    worker_env = {
        **os.environ,
        "BRISA_API_URL": api.url,
        "BRISA_DAGS_FOLDER": str(folder),
        **(env or {}),
    }
    log = outputs(folder) / f"attempt-{item['run_id']}.log"
    launched = time.time()
    argv = ["--ti", "1", "--try", "1", "--scope", "bench"]
    if warm:
        key = WarmKey("default", str(item["fileloc"]), CodeRef())
        pid = launch.start(argv, worker_env, log, "bench-token", key)
    else:
        pid = launch.start(argv, worker_env, log, "bench-token")
    return launched, pid


def worker_output(folder: Path, item: dict[str, Any]) -> str:
    """The last part of what the worker wrote to the executor's file, for error messages."""
    log = outputs(folder) / f"attempt-{item['run_id']}.log"
    return log.read_text(errors="replace")[-3000:]


def outputs(folder: Path) -> Path:
    """Where the attempts' files go: not the DAG folder itself, whose changes end a warm
    process of a plain folder (ADR 0023)."""
    return folder / "attempts"


def drop_worker_dag(folder: Path) -> None:
    dagfiles.drop(folder, _WORKER_FILE.removesuffix(".py"), dagfiles.worker_dag())
    outputs(folder).mkdir(exist_ok=True)


def one_attempt(
    api: FakeExecutionApi,
    launch: Launcher,
    folder: Path,
    name: str,
    env: dict[str, str] | None = None,
    warm: bool = False,
) -> dict[str, float]:
    """Start one worker of the task that marks when it runs (in a folder where
    `drop_worker_dag` put it) through the executor's launcher; times relative to the launch
    call, in ms."""
    out = outputs(folder) / f"mark-{name}.txt"
    item = work_item({"out": str(out)}, run_id=f"manual__{name}")
    launched, pid = start_worker(api, launch, folder, item, env, warm)
    wait_exit(pid, 60.0)
    exited = time.time()
    if not out.exists():
        raise RuntimeError(f"the worker did not run the task:\n{worker_output(folder, item)}")
    return {
        "user_code": (float(out.read_text()) - launched) * 1000,
        "start_call": (api.start_called_at - launched) * 1000,
        "exit": (exited - launched) * 1000,
    }


def _launcher_runs(
    api: FakeExecutionApi, folder: Path, method: str, repetitions: int, warm: bool = False
) -> list[dict[str, float]]:
    """`repetitions` measured attempts after one warm-up (which starts the fork server, and
    with `warm` the DAG file's warm process)."""
    launch = launcher(method, warm=(8, 300.0) if warm else None)
    prefix = ("worker_warm" if warm else "worker") if method == "forkserver" else method
    try:
        one_attempt(api, launch, folder, f"{prefix}-warm-up", warm=warm)
        runs = [
            one_attempt(api, launch, folder, f"{prefix}-{i}", warm=warm) for i in range(repetitions)
        ]
    finally:
        close = getattr(launch, "close", None)
        if close is not None:
            close()
    return [{f"{prefix}.{key}": value for key, value in run.items()} for run in runs]


def worker_runs(folder: Path, repetitions: int) -> list[dict[str, float]]:
    """Start workers the two ways the local executor can (fork server, the default, and a
    new interpreter per attempt), against a fake execution API."""
    drop_worker_dag(folder)
    with execution_api() as api:
        return [
            *_launcher_runs(api, folder, "forkserver", repetitions),
            *_launcher_runs(api, folder, "forkserver", repetitions, warm=True),
            *_launcher_runs(api, folder, "spawn", repetitions),
        ]


def _wall_ms(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return (time.monotonic() - started) * 1000


def cold_commands() -> dict[str, float]:
    """One new process each: bare Python, `import brisa`, `brisa --help`."""
    script = Path(sys.executable).parent / "brisa"
    help_argv = [str(script)] if script.exists() else [sys.executable, "-m", "brisa"]
    return {
        "cold.python": _wall_ms([sys.executable, "-c", "pass"]),
        "cold.import": _wall_ms([sys.executable, "-c", "import brisa"]),
        "cold.help": _wall_ms([*help_argv, "--help"]),
    }
