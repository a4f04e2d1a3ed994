"""How a worker gets its execution token (ADR 0008): never through anything another process
can read in /proc (its environ, its cmdline, its descriptors), with either way of starting
workers, and its environment points at no server state (no BRISA_HOME)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from brisa.core.records import AttemptRef
from brisa.executor.base import LaunchRequest
from brisa.executor.local.executor import LocalExecutor
from brisa.executor.local.launchers import ForkServerLauncher, Launcher, SpawnLauncher
from brisa.testing.server import eventually
from brisa.worker.env import TOKEN_FILE, WorkerEnv
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


def test_a_worker_in_a_pod_reads_its_token_from_the_mounted_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "token").write_text(TOKEN + "\n")  # as the kubelet mounts the Secret's key
    env = WorkerEnv(api_url=f"http://127.0.0.1:{free_port()}").to_env()
    env = {**env, TOKEN_FILE: str(secret / "token"), "PATH": os.environ.get("PATH", "")}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "brisa", "task", "run", "--ti", "7", "--try", "1"],
            env={**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # Nothing listens at the API: it keeps retrying its start call, holding its token.
        eventually(lambda: 'config | token = "***"' in log.read_text())
        assert TOKEN not in log.read_text()
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
