"""A real `brisa standalone` process for end-to-end tests: temporary home, free port,
its own copy of the DAG files, and helpers to talk to its REST API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "dags"
FINISHED = {"success", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class Standalone:
    """Start with `start()`, stop with `stop()` or `kill()` (SIGKILL, like a crash)."""

    def __init__(
        self,
        home: Path,
        *,
        dags: Path | None = None,
        env: dict[str, str] | None = None,
        copy_examples: bool = True,
    ) -> None:
        self.home = home
        self.dags = dags or home / "dags"
        if copy_examples and not self.dags.exists():
            shutil.copytree(EXAMPLES, self.dags)
        self.dags.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "BRISA_HOME": str(home), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "standalone.log"

    def start(self, timeout: float = 20.0) -> Standalone:
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "brisa",
                "standalone",
                "--port",
                str(self.port),
                "--dags",
                str(self.dags),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.wait_until(lambda: self._healthy(), timeout, "the API to answer")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"standalone exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return bool(self.get("/api/v1/health")["status"] == "ok")
        except (OSError, ApiError):
            return False

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the standalone process (workers, in their own sessions, live on)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    # --- REST helpers -------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                payload = resp.read()
                return json.loads(payload) if payload else None
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                detail = json.loads(detail)["detail"]
            raise ApiError(exc.code, detail) from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body if body is not None else {})

    def dag_path(self, dag_id: str, team: str = "default") -> str:
        return f"/api/v1/teams/{team}/dags/{dag_id}"

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, team: str = "default"
    ) -> Any:
        return self.post(f"{self.dag_path(dag_id, team)}/runs", {"conf": conf or {}})

    def run(self, dag_id: str, run_id: str, team: str = "default") -> Any:
        quoted = urllib.request.quote(run_id, safe="")
        return self.get(f"{self.dag_path(dag_id, team)}/runs/{quoted}")

    def wait_for_dag(self, dag_id: str, timeout: float = 15.0, team: str = "default") -> Any:
        def listed() -> Any:
            try:
                return self.get(self.dag_path(dag_id, team))
            except ApiError:
                return None

        return self.wait_until(listed, timeout, f"DAG {dag_id} to be listed")

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float = 60.0, team: str = "default"
    ) -> Any:
        def finished() -> Any:
            run = self.run(dag_id, run_id, team)
            return run if run["state"] in FINISHED else None

        return self.wait_until(finished, timeout, f"run {run_id} to finish")

    def wait_until(self, check: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what}\n"
                    f"--- standalone output ---\n{self.output()[-4000:]}"
                )
            time.sleep(interval)
