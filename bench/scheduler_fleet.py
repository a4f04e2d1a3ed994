"""W6 with several schedulers: 1, 2 or 3 scheduler processes share one PostgreSQL database.

The driver (`run_fleet`) publishes and triggers the DAGs once, then starts each scheduler as
a process of its own (`python -m bench.scheduler_fleet URL PARALLELISM LOGS NOTIFY START`),
each with its own engine, lease (`LeaseKeeper`: fenced writes, owners) and fake executor
whose workers start and succeed between its passes. They begin together at START (a wall
clock time) and stop once no run is active. Meanwhile the driver samples lock waits
(`pg_stat_activity.wait_event_type = 'Lock'`, every 50 ms) and reads the database's commit
count (`pg_stat_database.xact_commit`) before and after.

Figures: transitions (task-instance and run state moves the schedulers applied) per second
of wall time from START to the last scheduler's end (everything counted: passes, the fake
workers' calls, waiting), and per second inside passes (each scheduler's moves / its time in
passes, summed over schedulers); commits per transition inside passes and in the whole
database (workers' commits included). NOTIFY: with wake-ups, each scheduler LISTENs and is
woken by the change notifications the others' writes send (`store.changes`); without, the
notifier is switched off and idle schedulers poll every 10 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import scheduler_scale

ACTIVE = "SELECT count(*) FROM dag_runs WHERE state IN ('queued', 'running')"


def _sample_locks(url: str, stop: threading.Event, samples: list[int]) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
    with psycopg.connect(url.replace(f"/{name}", "/postgres"), autocommit=True) as conn:
        while not stop.wait(0.05):
            row = conn.execute(query, (name,)).fetchone()
            samples.append(int(row[0]) if row else 0)


def _commits(url: str) -> int:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace(f"/{name}", "/postgres"), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
        return int(row[0]) if row else 0


def run_fleet(
    folder: Path, dags: int, tasks: int, parallelism: int, schedulers: int, *, notify: bool
) -> dict[str, float]:
    """Publish and trigger the DAGs, then schedule them with `schedulers` processes."""
    folder.mkdir(parents=True, exist_ok=True)
    with scheduler_scale.database("postgresql", folder) as url:
        scheduler_scale.prepare(url, dags, tasks)
        time.sleep(1.0)  # let the statistics collector settle before the first reading
        commits_before = _commits(url)
        start = time.time() + 1.5 + 0.3 * schedulers  # after every process has started
        argv = [sys.executable, "-m", "bench.scheduler_fleet", url, str(parallelism)]
        children = [
            subprocess.Popen(
                [*argv, str(folder / f"logs{n}"), "1" if notify else "0", repr(start)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(schedulers)
        ]
        stop, samples = threading.Event(), list[int]()
        sampler = threading.Thread(target=_sample_locks, args=(url, stop, samples))
        sampler.start()
        outputs = [child.communicate(timeout=3600) for child in children]
        stop.set()
        sampler.join()
        time.sleep(1.0)
        commits = _commits(url) - commits_before
    results = []
    for child, (out, err) in zip(children, outputs, strict=True):
        if child.returncode != 0:
            raise RuntimeError(f"a W6 scheduler failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    moves = sum(r["transitions"] for r in results)
    wall = max(r["ended"] for r in results) - start
    return {
        "schedulers": schedulers,
        "transitions": moves,
        "wall_rate": moves / wall,
        "pass_rate": sum(r["transitions"] / r["seconds"] for r in results),
        "pass_commits_per_transition": sum(r["commits"] for r in results) / moves,
        "db_commits_per_transition": commits / moves,
        "lock_waits_mean": sum(samples) / max(1, len(samples)),
        "lock_waits_max": max(samples, default=0),
        "fenced_writes": sum(r["fenced"] for r in results),
    }


def _scheduler(
    url: str, parallelism: int, logs: Path, notify: bool, start: float
) -> dict[str, Any]:
    """One scheduler process of the fleet: its figures once no run is active."""
    import sqlalchemy as sa

    from brisa.control.execution import ExecutionService
    from brisa.core.planner import Limits
    from brisa.scheduler import Scheduler
    from brisa.scheduler.ha import LeaseKeeper
    from brisa.scheduler.loop import awake_seconds
    from brisa.store import changes, open_store
    from brisa.testing.fakes import FakeExecutor

    if not notify:
        changes._Notifier.poke = lambda self: None  # type: ignore[method-assign]
    store = open_store(url)
    keeper = LeaseKeeper(store, ttl=15.0, awake=awake_seconds)
    keeper.start()
    stop = threading.Event()
    threads = [threading.Thread(target=keeper.run_forever, args=(stop,), daemon=True)]
    worker = ExecutionService(store, scheduler_scale.clock, max_return_bytes=65536)
    executor = FakeExecutor(parallelism, worker=worker)
    scheduler = Scheduler(
        store, executor, clock=scheduler_scale.clock, logs_folder=logs, limits=Limits(),
        keeper=keeper,
    )  # fmt: skip
    if notify:
        threads.append(threading.Thread(target=scheduler.follow_changes, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()
    counter = scheduler_scale.Counter(scheduler)
    time.sleep(max(0.0, start - time.time()))
    while True:
        applied = counter.one_pass()
        if executor.run_pending() or applied:
            continue
        with store.engine.connect() as conn:
            if not conn.execute(sa.text(ACTIVE)).scalar():
                break
        scheduler._wake.wait(0.05) if notify else time.sleep(0.01)
        scheduler._wake.clear()
    ended = time.time()
    stop.set()
    keeper.close()
    store.close()
    return {**counter.figures(), "ended": ended, "fenced": scheduler.fenced_writes}


if __name__ == "__main__":
    db_url, slots, logs_folder, wakeups, at = sys.argv[1:6]
    figures = _scheduler(db_url, int(slots), Path(logs_folder), wakeups == "1", float(at))
    print(json.dumps(figures))
