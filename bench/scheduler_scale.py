"""W6 scheduler scale: many DAGs triggered at once, scheduled by the real `Scheduler` in this
process (no HTTP), with the fake executor of `brisa.testing`: its workers start and succeed
through the execution service between scheduling passes, outside the timed part.

Run as its own process (`python -m bench.scheduler_scale URL DAGS TASKS PARALLELISM`), so that
its peak RSS is the scheduler's alone; it prints one JSON object. The driver's `run_backend`
prepares the database (a SQLite file, or a PostgreSQL database it creates and drops).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from brisa import DAG, task
from brisa.core.spec import DagSpec
from brisa.testing.fakes import FakeExecutor

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"


@task
def noop() -> None:
    pass


def build_spec(index: int, tasks: int) -> DagSpec:
    """One DAG: a root task, then `tasks - 1` tasks that depend on it."""
    from brisa.authoring.serialize import serialize

    with DAG(f"scale_{index:05d}", max_active_tasks=tasks) as dag:
        root = noop.override(task_id="t000")()
        for j in range(1, tasks):
            root >> noop.override(task_id=f"t{j:03d}")()
    return serialize(dag, fileloc=f"scale_{index:05d}.py")


def clock() -> datetime:
    return datetime.now(UTC)


_clock = clock


def _populate(store: Any, dags: int, tasks: int) -> None:
    from brisa.control.commands import trigger

    now = _clock()
    for i in range(dags):
        spec = build_spec(i, tasks)
        store.publish_dag("default", spec, fileloc=spec.fileloc, code_version="", now=now)
    for i in range(dags):
        trigger(store, "default", f"scale_{i:05d}", conf={}, now=_clock())


class Counter:
    """Runs a scheduler's passes and counts what they did: actions applied (decisions),
    state moves of runs and task instances applied (transitions), time inside passes, and
    the commits and statements its engine made inside them."""

    def __init__(self, scheduler: Any) -> None:
        import sqlalchemy as sa

        from brisa.core.planner import QueueTask, SetRunState, SetTaskState, StartAttempt

        moves = (QueueTask, SetRunState, SetTaskState, StartAttempt)
        self.decisions = self.transitions = self.passes = self.commits = self.statements = 0
        self.round_trips = 0
        self.seconds = 0.0
        self._inside = False
        self.scheduler = scheduler
        engine = scheduler.store.engine
        sa.event.listen(engine, "commit", lambda *_: self._count("commits", "round_trips"))
        sa.event.listen(engine, "rollback", self._transaction)
        sa.event.listen(engine, "begin", self._transaction)
        sa.event.listen(
            engine, "before_cursor_execute", lambda *_: self._count("statements", "round_trips")
        )
        apply = scheduler._apply_all

        def counting(actions: list[Any]) -> list[bool]:
            done: list[bool] = apply(actions)
            self.transitions += sum(
                ok for a, ok in zip(actions, done, strict=True) if isinstance(a, moves)
            )
            return done

        scheduler._apply_all = counting

    def _count(self, *what: str) -> None:
        if self._inside:
            for name in what:
                setattr(self, name, getattr(self, name) + 1)

    def _transaction(self, conn: Any) -> None:
        """A BEGIN or a ROLLBACK is a round trip of its own on PostgreSQL (psycopg sends BEGIN
        before the first statement), unless the connection is in autocommit (the pass's
        reads, whose "rollback" when given back to the pool sends nothing)."""
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql" and not getattr(dbapi, "autocommit", False):
            self._count("round_trips")

    def one_pass(self) -> int:
        self._inside = True
        started = time.perf_counter()
        try:
            applied: int = self.scheduler.run_once()
        finally:
            self.seconds += time.perf_counter() - started
            self._inside = False
        self.passes += 1
        self.decisions += applied
        return applied

    def figures(self) -> dict[str, float]:
        names = ("decisions", "transitions", "seconds", "passes", "commits", "statements",
                 "round_trips")  # fmt: skip
        return {name: getattr(self, name) for name in names}


def _drive(scheduler: Any, executor: FakeExecutor, store: Any) -> dict[str, float]:
    counter = Counter(scheduler)
    while True:
        applied = counter.one_pass()
        if not executor.run_pending() and not applied:
            break
    left = store.active_runs()
    if left:
        raise RuntimeError(f"the scheduler stalled with {len(left)} runs still active")
    return counter.figures()


def prepare(url: str, dags: int, tasks: int) -> None:
    """Migrate the database at `url`, publish `dags` DAGs and trigger one run of each."""
    from brisa.store import open_store

    store = open_store(url, migrate=True)
    try:
        _populate(store, dags, tasks)
    finally:
        store.close()


def measure(url: str, dags: int, tasks: int, parallelism: int, logs: Path) -> dict[str, float]:
    """Publish, trigger, then schedule everything to success; figures of the scheduling."""
    from brisa.control.execution import ExecutionService
    from brisa.core.planner import Limits
    from brisa.scheduler import Scheduler
    from brisa.store import open_store

    store = open_store(url, migrate=True)
    try:
        _populate(store, dags, tasks)
        worker = ExecutionService(store, _clock, max_return_bytes=65536)
        executor = FakeExecutor(parallelism, worker=worker)
        scheduler = Scheduler(store, executor, clock=_clock, logs_folder=logs, limits=Limits())
        result = _drive(scheduler, executor, store)
    finally:
        store.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        **result,
        "rate": result["decisions"] / result["seconds"],
        "transition_rate": result["transitions"] / result["seconds"],
        "commits_per_transition": result["commits"] / max(1, result["transitions"]),
        "statements_per_pass": result["statements"] / max(1, result["passes"]),
        "round_trips_per_pass": result["round_trips"] / max(1, result["passes"]),
        "rss": peak_kib / 1024,
    }


def postgres_problem() -> str | None:
    """Why the PostgreSQL server cannot be used, or None when it answers."""
    import psycopg

    try:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in `folder`, or a PostgreSQL database that is
    dropped afterwards whatever happens."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'scale-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg

    name = f"brisa_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=3) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_backend(
    backend: str, folder: Path, dags: int, tasks: int, parallelism: int
) -> dict[str, float]:
    """One measurement in a child process; figures keyed like `sched.<backend>.rate`."""
    folder.mkdir(parents=True, exist_ok=True)
    with database(backend, folder) as url:
        argv = [sys.executable, "-m", "bench.scheduler_scale", url, str(dags), str(tasks)]
        done = subprocess.run(
            [*argv, str(parallelism), str(folder / "logs")],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"scheduler scale on {backend} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    keys = ("rate", "transition_rate", "commits_per_transition", "seconds", "passes", "rss")
    return {f"sched.{backend}.{key}": result[key] for key in keys}


if __name__ == "__main__":
    url, n_dags, n_tasks, slots, logs_folder = sys.argv[1:6]
    figures = measure(url, int(n_dags), int(n_tasks), int(slots), Path(logs_folder))
    print(json.dumps(figures))
