"""The local executor against real processes: liveness from the process table, process
groups killed whole, adoption after a restart, and both ways of starting workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from brisa.core.records import AttemptRef
from brisa.executor.base import LaunchRequest
from brisa.executor.local.executor import LocalExecutor
from brisa.executor.local.launchers import ForkServerLauncher, SpawnLauncher
from brisa.executor.local.pidwatch import PidWatch
from brisa.testing.server import eventually
from brisa.worker import containment
from brisa.worker.registry import WorkerRegistry, process_group_alive, process_start_time


def gone(pid: int) -> bool:
    return process_start_time(pid) is None


class ShellLauncher:
    """Starts `sh -c SCRIPT` in a new session instead of a worker; the script writes the pid
    of a background child to a file, so tests can check the whole group is handled."""

    def __init__(self, script: str, env: Mapping[str, str]) -> None:
        self.script = script
        self.env = dict(env)  # besides what the executor hands its workers
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: Mapping[str, str], log_path: Path, token: str) -> int:
        child = subprocess.Popen(["/bin/sh", "-c", self.script], start_new_session=True,
                                 env={**env, **self.env}, stdout=subprocess.DEVNULL)  # fmt: skip
        self.children.append(child)
        return child.pid

    def reap(self) -> None:
        for child in self.children:
            child.poll()


def executor(tmp_path: Path, script: str) -> tuple[LocalExecutor, ShellLauncher]:
    launch = ShellLauncher(script, {"CHILD_PIDS": str(tmp_path / "child.pid")})
    local = LocalExecutor(scope="t", parallelism=4, state_dir=tmp_path / "workers",
                          kill_grace=0.5, launch=launch)  # fmt: skip
    return local, launch


def request(tmp_path: Path, ti: int = 1, try_number: int = 1) -> LaunchRequest:
    return LaunchRequest(AttemptRef(ti, try_number), "token", tmp_path / f"{ti}.log")


SLEEPER = 'sleep 30 & echo $! > "$CHILD_PIDS"; wait'


def test_a_launched_worker_is_alive_and_a_kill_stops_its_whole_group(tmp_path: Path) -> None:
    local, launch = executor(tmp_path, SLEEPER)
    local.launch(request(tmp_path))
    eventually(
        lambda: (
            (tmp_path / "child.pid").exists() and bool((tmp_path / "child.pid").read_text().strip())
        )
    )
    child = int((tmp_path / "child.pid").read_text())
    assert local.alive() == {AttemptRef(1, 1)}

    local.kill(AttemptRef(1, 1))

    eventually(lambda: (launch.reap(), gone(child))[1])
    eventually(lambda: (launch.reap(), not local.alive())[1])


@pytest.mark.parametrize("children_files", [True, False], ids=["children lists", "/proc scan"])
def test_a_worker_that_ignores_sigterm_is_killed_with_what_left_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children_files: bool
) -> None:
    # The kernel lists children in /proc/PID/task/*/children, or else the process table is read.
    monkeypatch.setattr(containment, "_children_files", lambda: children_files)
    script = 'trap "" TERM; setsid sleep 30 & echo $! > "$CHILD_PIDS"; wait'
    local, launch = executor(tmp_path, script)
    local.launch(request(tmp_path))
    eventually(
        lambda: bool(
            tmp_path.joinpath("child.pid").exists()
            and tmp_path.joinpath("child.pid").read_text().strip()
        )
    )
    escaped = int((tmp_path / "child.pid").read_text())
    eventually(lambda: os.getsid(escaped) == escaped)  # out of the worker's group and session
    try:
        local.kill(AttemptRef(1, 1))  # SIGTERM, ignored; SIGKILL after the kill grace

        eventually(lambda: (launch.reap(), not local.alive())[1])
        eventually(lambda: gone(escaped))
    finally:
        with contextlib.suppress(OSError):
            os.kill(escaped, signal.SIGKILL)


def test_launching_a_live_attempt_again_starts_nothing(tmp_path: Path) -> None:
    local, launch = executor(tmp_path, SLEEPER)
    local.launch(request(tmp_path))
    local.launch(request(tmp_path))
    assert len(launch.children) == 1
    local.kill(AttemptRef(1, 1))


def test_what_a_dead_worker_left_in_its_group_is_killed(tmp_path: Path) -> None:
    # The worker (the shell) exits at once; its background sleep would live on.
    local, launch = executor(tmp_path, 'sleep 30 & echo $! > "$CHILD_PIDS"')
    local.launch(request(tmp_path))
    eventually(
        lambda: bool(
            (tmp_path / "child.pid").exists() and (tmp_path / "child.pid").read_text().strip()
        )
    )
    child = int((tmp_path / "child.pid").read_text())
    eventually(lambda: (launch.reap(), not local.alive())[1])
    eventually(lambda: gone(child))


def test_a_worker_found_dead_is_reported_once_so_its_log_can_be_finished(
    tmp_path: Path,
) -> None:
    gone: list[tuple[int, int, int]] = []  # (task instance, try, pid)
    launch = ShellLauncher("exit 0", {})
    local = LocalExecutor(scope="t", parallelism=4, state_dir=tmp_path / "workers", launch=launch,
                          on_worker_gone=lambda ref, pid: gone.append(
                              (ref.ti_id, ref.try_number, pid)))  # fmt: skip
    local.launch(request(tmp_path))
    local.launch(request(tmp_path, ti=2))
    (first, second) = (child.pid for child in launch.children)
    eventually(lambda: (launch.reap(), not local.alive())[1])
    local.alive()
    assert sorted(gone) == [(1, 1, first), (2, 1, second)]


def test_a_group_is_alive_while_a_member_runs_even_after_its_leader_exited(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "child.pid"
    leader = subprocess.Popen(["/bin/sh", "-c", f"sleep 30 & echo $! > {pids}"],
                              start_new_session=True)  # fmt: skip
    eventually(lambda: bool(pids.exists() and pids.read_text().strip()))
    child = int(pids.read_text())
    eventually(lambda: gone(leader.pid))  # a zombie: exited, not reaped yet
    assert process_group_alive(leader.pid)
    os.kill(child, signal.SIGKILL)
    eventually(lambda: not process_group_alive(leader.pid))  # only the zombie is left
    leader.wait()
    assert not process_group_alive(leader.pid)


def test_a_new_executor_adopts_the_workers_of_the_previous_one(tmp_path: Path) -> None:
    first, launch = executor(tmp_path, SLEEPER)
    first.launch(request(tmp_path, ti=7, try_number=2))
    second, _ = executor(tmp_path, SLEEPER)
    assert second.alive() == {AttemptRef(7, 2)}
    second.kill(AttemptRef(7, 2))
    eventually(lambda: (launch.reap(), not second.alive())[1])
    assert not list((tmp_path / "workers").glob("*.pid"))


def test_a_worker_recorded_by_itself_is_adopted_by_a_running_executor(tmp_path: Path) -> None:
    # A worker launched by an executor killed before it recorded it: the worker records
    # itself (before it tells the API it started), and the executor that runs now adopts it.
    local, _ = executor(tmp_path, SLEEPER)
    assert local.alive() == frozenset()
    stray = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        WorkerRegistry(tmp_path / "workers").record(AttemptRef(9, 1), stray.pid)
        assert local.alive() == {AttemptRef(9, 1)}
        local.kill(AttemptRef(9, 1))
        eventually(lambda: stray.poll() is not None)
        assert local.alive() == frozenset()
    finally:
        stray.kill()
        stray.wait()


def test_entries_of_workers_that_are_gone_are_removed(tmp_path: Path) -> None:
    registry = WorkerRegistry(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    registry.record(AttemptRef(5, 1), os.getpid())
    (tmp_path / "6-1.pid").write_text(f"{dead.pid} 1\n")
    assert registry.live() == {AttemptRef(5, 1): os.getpid()}
    assert sorted(p.name for p in tmp_path.glob("*.pid")) == ["5-1.pid"]


def test_a_recycled_pid_is_not_taken_for_the_worker(tmp_path: Path) -> None:
    registry = WorkerRegistry(tmp_path)
    (tmp_path / "3-1.pid").write_text(f"{os.getpid()} 12345\n")  # live pid, other start time
    assert registry.live() == {}
    registry.record(AttemptRef(4, 1), os.getpid())
    assert registry.live() == {AttemptRef(4, 1): os.getpid()}


@pytest.mark.parametrize("make", [ForkServerLauncher, SpawnLauncher], ids=["forkserver", "spawn"])
def test_both_launchers_run_the_worker_entrypoint_in_its_own_session(
    tmp_path: Path, make: Callable[[], ForkServerLauncher | SpawnLauncher]
) -> None:
    launch = make()
    log = tmp_path / "worker.log"
    env = {**os.environ, "MARKER": "from-the-executor"}
    # Bad arguments: the worker's own argument parser answers in the log and exits.
    pid = launch.start(["--ti", "x"], env, log, "token")
    eventually(lambda: log.exists() and "--ti: invalid int value" in log.read_text())
    if isinstance(launch, SpawnLauncher):
        launch.start(["--ti", "1", "--try", "1"], env, tmp_path / "other.log", "t")  # reaps
    eventually(lambda: gone(pid))
    assert "usage: brisa task run" in log.read_text()
    if isinstance(launch, ForkServerLauncher):
        launch.close()


def test_a_worker_that_exited_unreaped_is_not_alive(tmp_path: Path) -> None:
    # Its exit is told by its pidfd: a zombie (its parent has not reaped it) counts as gone,
    # as it does when the process table is read.
    local, launch = executor(tmp_path, "exit 0")
    local.launch(request(tmp_path))
    [child] = launch.children
    eventually(lambda: process_start_time(child.pid) is None)  # a zombie: not reaped
    assert local.alive() == frozenset()
    assert child.returncode is None  # still not reaped by its parent


def test_a_pidfd_watch_tells_the_exit_of_the_process_it_opened(tmp_path: Path) -> None:
    watch = PidWatch()
    child = subprocess.Popen(["sleep", "30"])
    ref = AttemptRef(1, 1)
    try:
        assert watch.watch(ref, child.pid)
        assert watch.watching(ref) and watch.exited() == set()
        child.kill()
        eventually(lambda: watch.exited() == {ref})
        watch.forget(ref)
        assert not watch.watching(ref) and watch.exited() == set()
        child.wait()
        assert not watch.watch(ref, child.pid)  # reaped: nothing to open
    finally:
        child.kill()
        child.wait()
        watch.close()
