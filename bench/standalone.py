"""One `brisa standalone` process started by the bench: its own home, DAG folder and port,
a small REST client, the list of its processes, and a stop that leaves nothing behind.

Every process the standalone starts (DAG parsers, workers) inherits `BRISA_HOME=<home>`; the
home is a fresh temporary folder, so that variable finds exactly this instance's processes,
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout: float, what: str, every: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


class Standalone:
    """Use as a context manager: whatever happens inside, everything is stopped on exit."""

    def __init__(self, home: Path, dags: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.dags = dags
        self.env = {**os.environ, "BRISA_HOME": str(home), **(env or {})}
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "standalone.log"
        self.launched_at = 0.0

    def __enter__(self) -> Standalone:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- life cycle ---------------------------------------------------------------------
    def launch(self) -> float:
        """Start the process on a new free port; returns the monotonic launch time."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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

    def wait_api(self, timeout: float = 60.0) -> float:
        """Seconds from launch until the health endpoint answers."""
        wait_until(self._healthy, timeout, "the API to answer", every=0.005)
        return time.monotonic() - self.launched_at

    def wait_dag(self, dag_id: str, timeout: float = 60.0, every: float = 0.005) -> float:
        """Seconds from launch until the DAG is listed by the API."""
        wait_until(lambda: self.dag_listed(dag_id), timeout, f"DAG {dag_id} listed", every)
        return time.monotonic() - self.launched_at

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"brisa standalone exited with {self.proc.returncode}:\n{tail}")
        try:
            return bool(self.get("/api/v1/health")["status"] == "ok")
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        """SIGINT (graceful), then SIGKILL its group, then any process left with our home."""
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

    def processes(self) -> list[int]:
        """Live processes started for this instance (the standalone and its children)."""
        marker = f"BRISA_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\x00")
                state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if marker in environ and state != "Z":
                found.append(int(entry.name))
        return found

    # --- REST ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(req, timeout=30) as resp:
            payload = resp.read()
            return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def dag_listed(self, dag_id: str) -> bool:
        try:
            self.get(f"/api/v1/teams/default/dags/{dag_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def trigger(self, dag_id: str) -> str:
        run = self.request("POST", f"/api/v1/teams/default/dags/{dag_id}/runs", {"conf": {}})
        return str(run["run_id"])

    def run(self, dag_id: str, run_id: str) -> Any:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.get(f"/api/v1/teams/default/dags/{dag_id}/runs/{quoted}")

    def wait_run(self, dag_id: str, run_id: str, timeout: float, every: float) -> Any:
        """The finished run with its tasks. Polls the light run list (newest run, no tasks)
        so that watching a big run does not load the server that runs it."""

        def finished() -> bool:
            newest = self.get(f"/api/v1/teams/default/dags/{dag_id}/runs?limit=1")["runs"]
            if newest and newest[0]["run_id"] != run_id:  # not ours: ask for it by id
                return self.run(dag_id, run_id)["state"] in FINISHED
            return bool(newest) and newest[0]["state"] in FINISHED

        wait_until(finished, timeout, f"run {run_id} of {dag_id} to finish", every)
        return self.run(dag_id, run_id)
