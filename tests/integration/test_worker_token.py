"""How a worker gets its execution token (ADR 0008): never through anything another process
can read in /proc (its environ, its cmdline, its descriptors), with either way of starting
workers, and its environment points at no server state (no BRISA_HOME)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from brisa.core.records import AttemptRef
from brisa.executor.base import LaunchRequest
from brisa.executor.local.executor import LocalExecutor
from brisa.executor.local.launchers import ForkServerLauncher, Launcher, SpawnLauncher
from brisa.testing.server import eventually
from brisa.worker.env import POD_TOKEN_FILE, WorkerEnv
from support.standalone import free_port

TOKEN = "canary-token-Zq8Xw3vT5Lr0"


def readable(path: Path) -> bytes:
    """What another process can read from `path` without waiting (a pipe may be empty)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:  # e.g. a socket: /proc/PID/fd/N cannot be opened
        return b""
    try:
        return os.read(fd, 1 << 20)
    except OSError:
        return b""
    finally:
        os.close(fd)


@pytest.mark.parametrize("make", [ForkServerLauncher, SpawnLauncher], ids=["forkserver", "spawn"])
def test_the_token_is_in_no_file_of_the_workers_proc_entry(
    tmp_path: Path, make: Callable[[], Launcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRISA_HOME", str(tmp_path / "home"))
    launch = make()
    # Nothing listens there: the worker keeps retrying its start call, holding its token.
    api = f"http://127.0.0.1:{free_port()}"
    local = LocalExecutor(scope="t", parallelism=1, state_dir=tmp_path / "workers",
                          worker=WorkerEnv(api_url=api), launch=launch)  # fmt: skip
    log = tmp_path / "worker.log"
    try:
        local.launch(LaunchRequest(AttemptRef(41, 1), TOKEN, log))
        eventually(lambda: log.exists() and "attempt 1 of task instance 41" in log.read_text())
        assert local.alive() == {AttemptRef(41, 1)}
        pid = local.registry.live()[AttemptRef(41, 1)]
        proc = Path(f"/proc/{pid}")
        environ = readable(proc / "environ")
        assert environ, "the test must read the worker's environ to mean anything"
        assert TOKEN.encode() not in environ
        assert b"BRISA_HOME=" not in environ
        assert TOKEN.encode() not in readable(proc / "cmdline")
        for fd in (proc / "fd").iterdir():
            assert TOKEN.encode() not in readable(fd), f"the token is readable from {fd}"
        # The worker did get it: it prints its configuration, the token redacted.
        assert 'config | token = "***"' in log.read_text()  # the redacted config dump
    finally:
        for ref in list(local.alive()):
            local.kill(ref)
        local.close()


def memory_of(pid: int) -> bytes:
    """The writable memory of process `pid` (what a process forked from it starts with)."""
    found = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("rw"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                found.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError):
                continue
    return b"".join(found)


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_the_fork_server_never_holds_a_token_so_no_later_worker_inherits_one(
    tmp_path: Path,
) -> None:
    # Every worker is a fork of the server: whatever the server's memory held when it forked
    # (freed or not), the worker's task can read in its own memory.
    launch = ForkServerLauncher()
    api = f"http://127.0.0.1:{free_port()}"
    local = LocalExecutor(scope="t", parallelism=4, state_dir=tmp_path / "workers",
                          worker=WorkerEnv(api_url=api), launch=launch)  # fmt: skip
    try:
        for ti in (51, 52, 53):
            log = tmp_path / f"worker{ti}.log"
            local.launch(LaunchRequest(AttemptRef(ti, 1), f"{TOKEN}-{ti}", log))
            eventually(lambda log=log: log.exists() and "attempt 1" in log.read_text())
        server = launch._server
        assert server is not None
        memory = memory_of(server.pid)
        assert len(memory) > 1 << 20, "the test must read the server's memory to mean anything"
        assert TOKEN.encode() not in memory
    finally:
        for ref in list(local.alive()):
            local.kill(ref)
        local.close()


class ExecutionApi(BaseHTTPRequestHandler):
    """Answers `exchange` with TOKEN and refuses `start` (409), recording what each got."""

    calls: list[tuple[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.calls.append((self.path.rsplit("/", 1)[-1], self.headers.get("Authorization", "")))
        exchanged = self.path.endswith("/exchange")
        body = json.dumps({"token": TOKEN} if exchanged else {"detail": "over"}).encode()
        self.send_response(200 if exchanged else 409)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_worker_in_a_pod_exchanges_its_projected_token_for_its_execution_token(
    tmp_path: Path,
) -> None:
    """ADR 0029: the pod's projected service account token goes to `exchange` only; the
    execution token it gets back authenticates `start`; the log shows neither."""
    projected = tmp_path / "projected"
    projected.mkdir()
    (projected / "token").write_text("eyJ.pod-token-canary.sig\n")  # as the kubelet mounts it
    api = ThreadingHTTPServer(("127.0.0.1", 0), ExecutionApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    ExecutionApi.calls = []
    env = WorkerEnv(api_url=f"http://127.0.0.1:{api.server_address[1]}").to_env()
    env = {**env, POD_TOKEN_FILE: str(projected / "token"), "PATH": os.environ.get("PATH", "")}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "brisa", "task", "run", "--ti", "7", "--try", "1"],
            env=env,
            capture_output=True,
            timeout=120,
        )
    finally:
        api.shutdown()
    assert ExecutionApi.calls == [
        ("exchange", "Bearer eyJ.pod-token-canary.sig"),
        ("start", f"Bearer {TOKEN}"),
    ]
    assert done.returncode == 3  # the start was refused: nothing ran
    output = done.stdout + done.stderr
    assert b"cannot start" in output
    assert TOKEN.encode() not in output and b"pod-token-canary" not in output
