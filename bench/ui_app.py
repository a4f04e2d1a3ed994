"""What the W10 parts share: a fresh SQLite store, the web application over it served in
process (`TestClient`: no network, no scheduler), DAGs published straight into the store,
finished runs inserted in bulk, timed requests and a statement counter."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from brisa import DAG
from brisa.authoring.serialize import serialize
from brisa.store import Store, open_store
from brisa.store.tables import dag_runs

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATES = ("success", "success", "success", "failed")


def open_home(home: Path) -> Store:
    return open_store(f"sqlite:///{home / 'brisa.db'}", migrate=True)


def publish(store: Store, dag: DAG) -> int:
    """Publish `dag` as the DAG processor would; its version id."""
    spec = serialize(dag, f"{dag.dag_id}.py")
    return store.publish_dag("default", spec, fileloc=spec.fileloc, code_version="", now=T0)


def finished_runs(store: Store, dag_id: str, version: int, runs: int, offset: int = 0) -> None:
    """`runs` finished scheduled runs of a DAG, one a day from T0, inserted in bulk (no task
    rows: what the DAG list reads is the runs)."""
    rows = []
    for number in range(runs):
        at = T0 + timedelta(days=number)
        rows.append(
            {
                "team": "default", "dag_id": dag_id, "run_id": f"scheduled__{number}",
                "run_type": "scheduled", "state": STATES[(offset + number) % len(STATES)],
                "version_id": version, "logical_date": at,
                "data_interval_start": at - timedelta(days=1), "data_interval_end": at,
                "conf": {}, "created_at": at, "start_date": at,
                "end_date": at + timedelta(seconds=30 + number),
            }
        )  # fmt: skip
    if rows:
        with store.engine.begin() as conn:
            conn.execute(dag_runs.insert(), rows)


def app_for(store: Store, home: Path) -> Any:
    """The REST API and the UI over `store`, as `brisa api` builds them."""
    from brisa.control.attempts import Attempts
    from brisa.control.code import CodeSnapshots
    from brisa.control.commands import Commands
    from brisa.control.execution import ExecutionService
    from brisa.control.queries import Queries
    from brisa.objectstore import open_object_store
    from brisa.settings import load
    from brisa.web.api.app import ApiContext
    from brisa.web.app import create_app

    def clock() -> datetime:
        return datetime.now(UTC)

    objects = open_object_store(str(home / "objects"))
    settings = load(home=home, environ={})
    queries = Queries(store, objects, clock)
    ctx = ApiContext(
        settings=settings,
        queries=queries,
        commands=Commands(store, clock),
        execution=ExecutionService(store, clock, max_return_bytes=1 << 20),
        attempts=Attempts(queries, store, objects, clock),
        code=CodeSnapshots(queries, store, objects, sources=(), repos_root=settings.repos_root),
    )
    return create_app(ctx)


@contextmanager
def client(store: Store, home: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from brisa.settings import load

    port = load(home=home, environ={}).api.port
    with TestClient(app_for(store, home), base_url=f"http://127.0.0.1:{port}") as test_client:
        yield test_client


def timed_gets(test_client: Any, path: str, repetitions: int) -> tuple[list[float], bytes, int]:
    """Milliseconds of each of `repetitions` GETs of `path` after one warm-up, the body, and
    the bytes that came over the wire for it (gzipped by the app: the client accepts gzip)."""
    test_client.get(path)  # caches warm (specs, templates)
    times, body, wire = [], b"", 0
    for _ in range(repetitions):
        started = time.perf_counter()
        response = test_client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
        body, wire = response.content, response.num_bytes_downloaded
    return times, body, wire


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def statements(store: Store, work: Callable[[], object]) -> int:
    """How many SQL statements `work` sends to the store (not counting the `BEGIN` the
    SQLite dialect sends for each transaction)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        if args[2].strip().upper() != "BEGIN":
            seen.append(args[2])

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    return len(seen)
