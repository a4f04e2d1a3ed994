"""W10 (part) DAG list: server p95 of the DAG list page, a tag-filtered page, the tag typeahead
and the REST list, at 1,000 DAGs x 50 runs with 300 tags on SQLite (UI.md A.5), in process.

    PYTHONPATH=src python -m bench.dag_list [--dags 1000] [--runs 50] [--repetitions 30]

Seeds a fresh SQLite database (DAGs published through the store, runs inserted in bulk), then
asks the application (REST + UI) through an in-process client: no network, no scheduler.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.store import Store, open_store
from brisa.store.tables import dag_runs

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATES = ("success", "success", "success", "failed")


def _spec(index: int, tags: int) -> Any:
    dag_id = f"dag_{index:04d}"
    labels = [f"tag-{index % tags:03d}", f"tag-{(index * 7) % tags:03d}"]
    with DAG(dag_id, schedule="0 3 * * *", tags=sorted(set(labels)), start_date=T0) as dag:
        shell("a", "true") >> shell("b", "true")
    return serialize(dag, f"{dag_id}.py")


def seed(store: Store, dags: int, runs: int, tags: int) -> None:
    rows: list[dict[str, Any]] = []
    for index in range(dags):
        spec = _spec(index, tags)
        version = store.publish_dag("default", spec, fileloc=spec.fileloc, code_version="", now=T0)
        for number in range(runs):
            at = T0 + timedelta(days=number)
            state = STATES[(index + number) % len(STATES)]
            rows.append(
                {
                    "team": "default",
                    "dag_id": spec.dag_id,
                    "run_id": f"scheduled__{number}",
                    "run_type": "scheduled",
                    "state": state,
                    "version_id": version,
                    "logical_date": at,
                    "data_interval_start": at - timedelta(days=1),
                    "data_interval_end": at,
                    "conf": {},
                    "created_at": at,
                    "start_date": at,
                    "end_date": at + timedelta(seconds=30 + number),
                }
            )
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(dag_runs.insert(), rows[start : start + 5000])


def app_for(store: Store, home: Path) -> Any:
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


def settings_port(home: Path) -> int:
    from brisa.settings import load

    return load(home=home, environ={}).api.port


def p95(client: Any, path: str, repetitions: int) -> dict[str, float]:
    client.get(path)  # warm caches (specs, templates)
    times, size = [], 0
    for _ in range(repetitions):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.content)
    times.sort()
    return {
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * times[max(0, round(0.95 * len(times)) - 1)],
        "bytes": float(size),
    }


PATHS = (
    "/dags",
    "/dags?tag=tag-290",
    "/dags?sort=-last_run&state=failed",
    "/_/dags/tags?tag=tag-29",
    "/api/v1/dags",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tags", type=int, default=300)
    parser.add_argument("--repetitions", type=int, default=30)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="bench-dag-list-") as folder:
        home = Path(folder)
        store = open_store(f"sqlite:///{home / 'brisa.db'}", migrate=True)
        started = time.monotonic()
        seed(store, args.dags, args.runs, args.tags)
        print(f"seeded {args.dags} DAGs x {args.runs} runs in {time.monotonic() - started:.1f} s")
        with TestClient(
            app_for(store, home), base_url=f"http://127.0.0.1:{settings_port(home)}"
        ) as client:
            print("| request | p50 ms | p95 ms | bytes |\n|---|---|---|---|")
            for path in PATHS:
                got = p95(client, path, args.repetitions)
                print(
                    f"| `{path}` | {got['p50_ms']:.0f} | {got['p95_ms']:.0f} | {got['bytes']:.0f} |"
                )
        store.close()


if __name__ == "__main__":
    main()
