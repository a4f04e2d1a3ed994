"""Housekeeping: when periodic jobs run, waking one, errors, stopping; and the jobs the
composition root registers in a process that runs workers."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brisa.core.records import AttemptRef
from brisa.housekeeping import Housekeeping, Timer
from brisa.logs import layout
from brisa.objectstore.local import LocalObjectStore
from brisa.settings import load
from brisa.system import (
    GONE_WORKER_SPOOLS,
    LOG_RETENTION,
    RECORD_RETENTION,
    SPOOL_SWEEP,
    System,
)
from brisa.testing.server import eventually

PATIENCE = 10.0  # seconds a test waits for a thread before it fails; never for a timing


@pytest.fixture
def housekeeping() -> Iterator[Housekeeping]:
    jobs = Housekeeping()
    yield jobs
    jobs.close()


# --- the timer --------------------------------------------------------------------------------


def test_a_job_is_first_due_after_first_after_then_every_after_each_start() -> None:
    timer = Timer(every=3600, first_after=60, now=1000)

    assert timer.wait(1000) == 60
    assert timer.wait(1059) == 1
    assert timer.wait(1060) == 0
    timer.started(1060)
    assert timer.wait(1061) == 3599  # counted from the start of the run, not its end
    assert timer.wait(1060 + 3600) == 0


def test_a_run_longer_than_its_period_is_followed_at_once_not_doubled() -> None:
    timer = Timer(every=30, first_after=0, now=0)
    timer.started(0)

    assert timer.wait(45) == 0  # the run took 45 s: the next one starts when it ends


# --- the threads ------------------------------------------------------------------------------


def test_jobs_run_on_their_timers(housekeeping: Housekeeping) -> None:
    runs: list[str] = []
    housekeeping.add("often", lambda: runs.append("often"), every=0.01)
    housekeeping.add("later", lambda: runs.append("later"), every=0.01, first_after=3600)
    housekeeping.start()

    eventually(lambda: runs.count("often") >= 3, PATIENCE)
    assert "later" not in runs


def test_wake_runs_a_job_at_once(housekeeping: Housekeeping) -> None:
    ran = threading.Event()
    housekeeping.add("sweep", ran.set, every=3600, first_after=3600)
    housekeeping.start()

    housekeeping.wake("sweep")
    housekeeping.wake("a job this process does not have")

    assert ran.wait(PATIENCE)


def test_a_failing_job_is_logged_and_runs_again(
    housekeeping: Housekeeping, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("store down")

    housekeeping.add("flaky", flaky, every=3600)
    housekeeping.start()
    eventually(lambda: len(calls) == 1, PATIENCE)
    eventually(lambda: "housekeeping job 'flaky' failed" in caplog.text, PATIENCE)
    assert "store down" in caplog.text

    housekeeping.wake("flaky")
    eventually(lambda: len(calls) == 2, PATIENCE)


def test_a_job_never_runs_twice_at_once(housekeeping: Housekeeping) -> None:
    release, running = threading.Event(), threading.Event()
    active, most, runs = [0], [0], [0]

    def slow() -> None:
        active[0] += 1
        most[0] = max(most[0], active[0])
        running.set()
        release.wait(PATIENCE)
        active[0] -= 1
        runs[0] += 1

    housekeeping.add("prune", slow, every=3600)
    housekeeping.start()
    assert running.wait(PATIENCE)
    for _ in range(5):
        housekeeping.wake("prune")  # due again while it runs
    release.set()

    eventually(lambda: runs[0] == 2, PATIENCE)  # the run in progress, then one more for the wakes
    assert most[0] == 1


def test_close_stops_waiting_jobs_at_once() -> None:
    runs: list[int] = []
    jobs = Housekeeping()
    jobs.add("hourly", lambda: runs.append(1), every=3600, first_after=3600)
    jobs.start()

    started = time.monotonic()
    jobs.close(timeout=PATIENCE)

    assert time.monotonic() - started < PATIENCE
    assert not any(job.thread and job.thread.is_alive() for job in jobs.jobs.values())
    assert runs == []


def test_jobs_are_registered_before_the_start(housekeeping: Housekeeping) -> None:
    housekeeping.add("a", lambda: None, every=1)
    with pytest.raises(ValueError, match="already registered"):
        housekeeping.add("a", lambda: None, every=1)
    housekeeping.start()
    with pytest.raises(RuntimeError):
        housekeeping.add("b", lambda: None, every=1)


# --- the jobs of a process that runs workers ------------------------------------------------


def system_with(tmp_path: Path, **environ: str) -> System:
    return System.create(load(tmp_path / "home", environ=environ))


def test_retention_runs_hourly_the_first_time_a_minute_after_start(tmp_path: Path) -> None:
    system = system_with(tmp_path, BRISA__LOGS__RETENTION="30d")
    try:
        jobs = system.housekeeping.jobs
        assert list(jobs) == [LOG_RETENTION, RECORD_RETENTION, SPOOL_SWEEP, GONE_WORKER_SPOOLS]
        now = time.monotonic()
        retention = jobs[LOG_RETENTION].timer
        assert retention.every == 3600
        assert 59 < retention.wait(now) <= 60
        sweep = jobs[SPOOL_SWEEP].timer
        assert (sweep.every, sweep.wait(now)) == (30, 0)  # at start, then every 30 s
        gone = jobs[GONE_WORKER_SPOOLS].timer  # woken by each worker's exit
        assert (gone.every, gone.wait(now)) == (30, 0)
    finally:
        system.shutdown()


def test_without_retention_only_the_spool_sweeps_run(tmp_path: Path) -> None:
    system = system_with(tmp_path, BRISA__RETENTION__COMMIT_PARSES_PER_REPO="0")
    try:
        assert list(system.housekeeping.jobs) == [SPOOL_SWEEP, GONE_WORKER_SPOOLS]
    finally:
        system.shutdown()


def test_record_retention_runs_on_its_own_timer(tmp_path: Path) -> None:
    """By default the commit parses are kept to 1,000 per repository: the record retention job
    runs hourly, the first time two minutes after start; `[retention] interval` changes it."""
    system = system_with(tmp_path)
    try:
        jobs = system.housekeeping.jobs
        assert list(jobs) == [RECORD_RETENTION, SPOOL_SWEEP, GONE_WORKER_SPOOLS]
        timer = jobs[RECORD_RETENTION].timer
        assert timer.every == 3600 and 119 < timer.wait(time.monotonic()) <= 120
    finally:
        system.shutdown()
    system = system_with(
        tmp_path, BRISA__RETENTION__AUDIT_DAYS="90", BRISA__RETENTION__INTERVAL="10m"
    )
    try:
        assert system.housekeeping.jobs[RECORD_RETENTION].timer.every == 600
    finally:
        system.shutdown()


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def leave_spool(folder: Path, ti: int, pid: int, data: bytes) -> str:
    """A spool as a worker whose whole group was killed leaves it; returns its log prefix."""
    folder.mkdir(parents=True, exist_ok=True)
    spool = folder / f"ti{ti}-try1.log.{pid}.spool"
    spool.with_suffix(".attempt").write_text(json.dumps(["default", "etl", "m1", f"t{ti}", 1]))
    spool.write_bytes(data)
    return layout.attempt_prefix("default", "etl", "m1", f"t{ti}", 1)


def finished(store: LocalObjectStore, prefix: str) -> bool:
    """The log is whole: full.log and nothing else."""
    try:
        return [o.key for o in store.list(prefix)] == [prefix + layout.FULL]
    except FileNotFoundError:  # the local store's list() racing the chunks' deletion
        return False


def test_a_worker_found_dead_has_its_log_finished_at_once_not_at_the_next_sweep(
    tmp_path: Path,
) -> None:
    system = system_with(tmp_path)
    store = LocalObjectStore(system.settings.home / "logs")
    spools = system.settings.spool_folder
    try:
        early = leave_spool(spools, 1, dead_pid(), b"left before the start\n")
        system.housekeeping.start()
        eventually(lambda: finished(store, early), PATIENCE)  # by the first sweep, at start

        pid = dead_pid()
        late = leave_spool(spools, 2, pid, b"last words\n")
        # What the executor calls when it finds the worker gone:
        system._worker_gone(AttemptRef(2, 1), pid)
        eventually(lambda: finished(store, late), PATIENCE)  # long before the next sweep, 30 s away
        assert layout.read(store, late, 0)[0].startswith(b"last words\n")
        eventually(lambda: not list(spools.glob("*.spool")), PATIENCE)
    finally:
        system.shutdown()
