"""What one scrape of the database's gauges costs (`brisa.metrics.collector`), on a store of
1,000 DAGs x 10 tasks with every DAG's run triggered (10,000 task instances of active runs:
the worst case for the per-state count), on SQLite and PostgreSQL.

    python -m bench.metrics_scrape [DAGS] [TASKS]

Prints one JSON object: the median and the slowest of 20 scrapes, in milliseconds."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from bench.scheduler_scale import POSTGRES_SERVER, _populate
from brisa.metrics.collector import DatabaseCollector
from brisa.store import open_store

SCRAPES = 20


def measure(url: str, dags: int, tasks: int) -> dict[str, float]:
    store = open_store(url, migrate=True)
    try:
        _populate(store, dags, tasks)
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(lambda: store, lambda: datetime.now(UTC)))
        generate_latest(registry)  # warm: connections, statement caches
        times = []
        for _ in range(SCRAPES):
            started = time.perf_counter()
            generate_latest(registry)
            times.append((time.perf_counter() - started) * 1000)
        return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}
    finally:
        store.close()


def main() -> None:
    dags = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    tasks = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    import psycopg

    out: dict[str, object] = {"dags": dags, "tasks": tasks}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'brisa.db'}", dags, tasks)
    name = f"brisa_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        out["postgresql"] = measure(f"{POSTGRES_SERVER}/{name}", dags, tasks)
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(out))


if __name__ == "__main__":
    main()
