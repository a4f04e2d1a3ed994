"""A real `brisa standalone` in a subprocess, for end-to-end tests and benchmarks: its own
home, DAG folder and free port, a small REST client, the list of its processes, and a stop
that leaves nothing behind.

Every process the standalone starts (DAG parsers, workers) inherits `BRISA_HOME=<home>`, and
the home is a folder of its own, so that variable finds exactly this instance's processes,
even workers that run in their own sessions.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
FINISHED = {"success", "failed", "cancelled"}
# Only 127.0.0.1 is ever contacted: no proxy from the environment may reroute it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A loopback port nothing listens on right now (another process may take it later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` holds the socket listening on loopback port `port` (from
    /proc/net/tcp{,6} and the process's descriptors)."""
    wanted = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[1].endswith(wanted) and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
    return False


def _port_taken(output: str) -> bool:
    return "address already in use" in output.lower() or "errno 98" in output.lower()


def wait_until(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """The first truthy answer of `check`, asked every `every` seconds; TimeoutError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def eventually(
    check: Callable[[], object], timeout: float = 10.0, what: str = "the condition"
) -> None:
    """Wait for `check()` to be true (asked every 10 ms): the state a test asserts, never a
    timing; TimeoutError after `timeout` seconds."""
    wait_until(check, timeout, what, every=0.01)


def processes_with_env(entry: str) -> list[int]:
    """Live (non-zombie) processes other than this one whose environment holds `entry`
    ("NAME=value"): what a test started, and whatever those started in turn."""
    marker = entry.encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\x00")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker in environ and state != "Z":
            found.append(int(proc.name))
    return found


class ApiError(Exception):
    """An HTTP error answer of the REST API, with its status and `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class Standalone:
    """`start()` (or `launch()` then `wait_api()`), then `stop()`, or `kill()` for a crash.
    As a context manager, everything is stopped on exit whatever happened inside."""

    def __init__(
        self, home: Path, dags: Path | None = None, *, env: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.dags = dags or home / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "BRISA_HOME": str(home), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "standalone.log"
        self.launched_at = 0.0

    def __enter__(self) -> Standalone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- life cycle ---------------------------------------------------------------------
    def launch(self) -> float:
        """Start the process (without waiting for it); returns the monotonic launch time."""
        self.home.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "brisa", "standalone", "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.launched_at = time.monotonic()
            self.proc = subprocess.Popen(
                [*argv, "--dags", str(self.dags)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self.launched_at

    def start(self, timeout: float = 20.0) -> Standalone:
        """Launch, and wait until the API answers. A port that another process took between
        `free_port()` and the bind (tests run in parallel) is replaced and the launch tried
        again."""
        for attempt in range(3):
            self.launch()
            try:
                self.wait_api(timeout)
                return self
            except RuntimeError:
                if attempt == 2 or not _port_taken(self.output()):
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        return self

    def wait_api(self, timeout: float = 60.0) -> float:
        """Seconds from launch until the health endpoint answers."""
        self.wait_until(self._healthy, timeout, "the API to answer", interval=0.005)
        return time.monotonic() - self.launched_at

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.output()[-3000:]
            raise RuntimeError(f"brisa standalone exited with {self.proc.returncode}:\n{tail}")
        try:
            healthy = bool(self.get("/api/v1/health")["status"] == "ok")
        except (OSError, ApiError, ValueError):
            return False
        # Only our own process's answer counts: another test's server may hold this port.
        return healthy and listens_on(self.proc.pid, self.port)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGINT (graceful), then SIGKILL its group, then any process left with our home
        (workers that were left to finish, in their own sessions)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the standalone process alone, like a crash: its workers live on."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def processes(self) -> list[int]:
        """Live processes started for this instance (the standalone and its children)."""
        return processes_with_env(f"BRISA_HOME={self.home}")

    def whole_log(self, task_path: str, timeout: float = 30.0) -> Any:
        """The log page of the task at `task_path` (…/runs/RUN/tasks/TASK) once it is
        finished: its last chunk is shipped as the worker ends, just after its report, so a
        run can be over a moment before its last task's log is."""
        return self.wait_until(
            lambda: (page := self.get(f"{task_path}/logs"))["finished"] and page,
            timeout,
            "the log shipped whole",
        )

    def wait_until(
        self, check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05
    ) -> T:
        """`wait_until`, with the standalone's output in the error when it times out."""
        try:
            return wait_until(check, timeout, what, every=interval)
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}\n--- standalone output ---\n{self.output()[-4000:]}"
            ) from None

    # --- REST ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> Any:
        """The decoded JSON answer; ApiError for an HTTP error status."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with _OPENER.open(req, timeout=30) as resp:
                payload = resp.read()
                return json.loads(payload) if payload else None
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                detail = json.loads(detail)["detail"]
            raise ApiError(exc.code, detail) from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def list_dags(self, team: str | None = None) -> list[dict[str, Any]]:
        """Every DAG (of one team), following the list's pages."""
        path = f"/api/v1/teams/{team}/dags" if team else "/api/v1/dags"
        found: list[dict[str, Any]] = []
        after = ""
        while True:
            cursor = f"&after={urllib.parse.quote(after, safe='')}" if after else ""
            answer = self.get(f"{path}?limit=200{cursor}")
            found += answer["dags"]
            after = answer.get("next_cursor") or ""
            if not after:
                return found

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def dag_path(self, dag_id: str, team: str = "default") -> str:
        return f"/api/v1/teams/{team}/dags/{dag_id}"

    def find_dag(self, dag_id: str, team: str = "default") -> Any:
        """The DAG as the API shows it, or None while it is not listed."""
        try:
            return self.get(self.dag_path(dag_id, team))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def dag_listed(self, dag_id: str, team: str = "default") -> bool:
        return self.find_dag(dag_id, team) is not None

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, team: str = "default"
    ) -> Any:
        """The new run, as the API answers the trigger."""
        return self.post(f"{self.dag_path(dag_id, team)}/runs", {"conf": conf or {}})

    def run(self, dag_id: str, run_id: str, team: str = "default") -> Any:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.get(f"{self.dag_path(dag_id, team)}/runs/{quoted}")

    def wait_for_dag(
        self, dag_id: str, timeout: float = 15.0, team: str = "default", every: float = 0.05
    ) -> Any:
        """The DAG, once the API lists it."""
        return self.wait_until(
            lambda: self.find_dag(dag_id, team), timeout, f"DAG {dag_id} to be listed", every
        )

    def wait_dag(self, dag_id: str, timeout: float = 60.0, every: float = 0.005) -> float:
        """Seconds from launch until the API lists the DAG."""
        self.wait_for_dag(dag_id, timeout, every=every)
        return time.monotonic() - self.launched_at

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 60.0,
        team: str = "default",
        every: float = 0.05,
    ) -> Any:
        """The finished run with its tasks. Polls the light run list (newest run, no tasks),
        so that watching a big run does not load the server that runs it."""
        runs = f"{self.dag_path(dag_id, team)}/runs?limit=1"

        def finished() -> bool:
            newest = self.get(runs)["runs"]
            if newest and newest[0]["run_id"] != run_id:  # not ours: ask for it by id
                return self.run(dag_id, run_id, team)["state"] in FINISHED
            return bool(newest) and newest[0]["state"] in FINISHED

        self.wait_until(finished, timeout, f"run {run_id} of {dag_id} to finish", every)
        return self.run(dag_id, run_id, team)
