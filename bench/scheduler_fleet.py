"""W6 with several schedulers: 1, 2 or 3 scheduler processes share one PostgreSQL database.

The driver (`run_fleet`) publishes and triggers the DAGs once, then starts each scheduler as
a process of its own (`python -m bench.scheduler_fleet PARALLELISM URL LOGS NOTIFY START
UNTIL`), each with its own engine, lease (`LeaseKeeper`: fenced writes, owners) and fake executor
whose workers start and succeed between its passes. They begin together at START (a wall
clock time) and stop once no run is active. Meanwhile the driver samples lock waits
(`pg_stat_activity.wait_event_type = 'Lock'`, every 50 ms) and reads the database's commit
count (`pg_stat_database.xact_commit`) before and after, and the connections each scheduler
holds (`pg_stat_activity`, by the `application_name` each gets).

Paced (`pace`: tasks per minute per scheduler): instead of triggering every run up front,
the driver triggers one run after another at that rate for `seconds` (from 1 s after the
start, once each scheduler made its first, full pass), the fake workers play in a thread of
each scheduler process as soon as they are launched, and the schedulers stop once that time
is over and no run is active; this is PLATFORM.md H7's latency check. Either
way *ready -> queued* is measured from the database after the run: a root task is ready when
its run was triggered (`dag_runs.created_at`), the others when the root succeeded (its move
in `task_transitions`); queued is its own move to queued (database time). In the burst (all
runs triggered at once) it is dominated by the wait for the executors' slots.

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


APP = "w6-scheduler-"  # application_name prefix of the schedulers' connections
SAMPLE = """SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),
  coalesce(max(n), 0) FROM pg_stat_activity
  LEFT JOIN (SELECT application_name AS app, count(*) AS n FROM pg_stat_activity
             WHERE datname = %(db)s GROUP BY application_name) per ON per.app = application_name
 WHERE datname = %(db)s"""
READY_TO_QUEUED = """
WITH queued AS (
  SELECT ti.id, ti.run_pk, ti.task_id, min(tt.at) AS at FROM task_transitions tt
  JOIN task_instances ti ON ti.id = tt.ti_id
  WHERE tt.to_state = 'queued' AND tt.try_number = 1 GROUP BY ti.id, ti.run_pk, ti.task_id),
root_done AS (
  SELECT ti.run_pk, min(tt.at) AS at FROM task_transitions tt
  JOIN task_instances ti ON ti.id = tt.ti_id
  WHERE ti.task_id = 't000' AND tt.to_state = 'success' GROUP BY ti.run_pk)
SELECT extract(epoch FROM q.at - CASE WHEN q.task_id = 't000' THEN r.created_at ELSE d.at END)
FROM queued q JOIN dag_runs r ON r.id = q.run_pk LEFT JOIN root_done d ON d.run_pk = q.run_pk"""


def _sample(url: str, stop: threading.Event, locks: list[int], connections: list[int]) -> None:
    """Every 50 ms: sessions waiting on a lock, and the most connections one application
    (a scheduler process, by its application_name) holds."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.replace(f"/{name}", "/postgres"), autocommit=True) as conn:
        while not stop.wait(0.05):
            row = conn.execute(SAMPLE, {"db": name}).fetchone()
            locks.append(int(row[0]) if row else 0)
            connections.append(int(row[1]) if row else 0)


def _ready_to_queued(url: str) -> list[float]:
    import psycopg

    with psycopg.connect(url) as conn:
        return sorted(float(row[0]) for row in conn.execute(READY_TO_QUEUED) if row[0] is not None)


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _publish(url: str, dags: int, tasks: int) -> None:
    from brisa.store import open_store

    store = open_store(url, migrate=True)
    try:
        now = scheduler_scale.clock()
        for i in range(dags):
            spec = scheduler_scale.build_spec(i, tasks)
            store.publish_dag("default", spec, fileloc=spec.fileloc, code_version="", now=now)
    finally:
        store.close()


def _trigger_paced(url: str, dags: int, start: float, every: float) -> None:
    """Trigger one run of each DAG in turn, one every `every` seconds from `start`."""
    from brisa.control.commands import trigger
    from brisa.store import open_store

    store = open_store(url)
    try:
        for i in range(dags):
            time.sleep(max(0.0, start + i * every - time.time()))
            trigger(store, "default", f"scale_{i:05d}", conf={}, now=scheduler_scale.clock())
    finally:
        store.close()


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
    folder: Path,
    dags: int,
    tasks: int,
    parallelism: int,
    schedulers: int,
    *,
    notify: bool,
    pace: float | None = None,
    seconds: float = 60.0,
) -> dict[str, float]:
    """Publish and trigger the DAGs, then schedule them with `schedulers` processes; with
    `pace` (tasks per minute per scheduler), trigger runs at that rate for `seconds` instead
    (as many DAGs as that takes: `dags` is then ignored)."""
    folder.mkdir(parents=True, exist_ok=True)
    every = 60.0 * tasks / (pace * schedulers) if pace else 0.0
    if pace:
        dags = int(seconds / every)
    with scheduler_scale.database("postgresql", folder) as url:
        if pace:
            _publish(url, dags, tasks)
        else:
            scheduler_scale.prepare(url, dags, tasks)
        time.sleep(1.0)  # let the statistics collector settle before the first reading
        commits_before = _commits(url)
        start = time.time() + 1.5 + 0.3 * schedulers  # after every process has started
        warm = 1.0 if pace else 0.0  # paced: the schedulers' first (full) passes come first
        until = start + warm + (seconds if pace else 0.0)
        argv = [sys.executable, "-m", "bench.scheduler_fleet", str(parallelism)]
        children = [
            subprocess.Popen(
                [
                    *argv,
                    f"{url}?application_name={APP}{n}",
                    str(folder / f"logs{n}"),
                    "1" if notify else "0",
                    repr(start),
                    repr(until),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(schedulers)
        ]
        stop, locks, connections = threading.Event(), list[int](), list[int]()
        sampler = threading.Thread(target=_sample, args=(url, stop, locks, connections))
        sampler.start()
        if pace:
            _trigger_paced(url, dags, start + warm, every)
        outputs = [child.communicate(timeout=3600) for child in children]
        stop.set()
        sampler.join()
        time.sleep(1.0)
        commits = _commits(url) - commits_before
        latency = _ready_to_queued(url)
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
        "lock_waits_mean": sum(locks) / max(1, len(locks)),
        "lock_waits_max": max(locks, default=0),
        "connections_per_scheduler_max": max(connections, default=0),
        "fenced_writes": sum(r["fenced"] for r in results),
        "ready_to_queued_p50": _quantile(latency, 0.5),
        "ready_to_queued_p99": _quantile(latency, 0.99),
        "ready_to_queued_max": latency[-1] if latency else float("nan"),
        "tasks_queued": len(latency),
    }


def _scheduler(
    url: str, parallelism: int, logs: Path, notify: bool, start: float, until: float
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
    paced = until > start
    if paced:  # the workers play in a thread of their own, as real ones run beside
        threads.append(threading.Thread(target=_play_workers, args=(executor, stop), daemon=True))
        threads[-1].start()
    time.sleep(max(0.0, start - time.time()))
    while True:
        applied = counter.one_pass()
        if applied or (not paced and executor.run_pending()):
            continue
        if time.time() >= until:  # paced: triggers may still come until then
            with store.engine.connect() as conn:
                if not conn.execute(sa.text(ACTIVE)).scalar():
                    break
        scheduler._wake.wait(0.05) if notify else time.sleep(0.01)
        scheduler._wake.clear()
    ended = time.time()
    stop.set()
    for thread in threads:
        thread.join(timeout=5.0)
    keeper.close()
    store.close()
    return {**counter.figures(), "ended": ended, "fenced": scheduler.fenced_writes}


def _play_workers(executor: Any, stop: threading.Event) -> None:
    """Paced runs: the fake workers start and succeed as soon as they are launched, beside
    the scheduler's passes instead of between them (the burst keeps them between passes, so
    that W6's figures count the scheduler alone)."""
    while not stop.is_set():
        if not executor.run_pending():
            stop.wait(0.005)


if __name__ == "__main__":
    slots, db_url, logs_folder, wakeups, at, end = sys.argv[1:7]
    figures = _scheduler(
        db_url, int(slots), Path(logs_folder), wakeups == "1", float(at), float(end)
    )
    print(json.dumps(figures))
