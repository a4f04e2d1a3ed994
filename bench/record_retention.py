"""What the record retention job (`brisa.pruning`) costs on a backlog: AUDIT audit entries past
`[retention] audit_days` (plus 1,000 recent ones that stay) and REPOS repositories of PARSES
parsed commits each (1,000 kept per repository), on SQLite and PostgreSQL. The job runs until
nothing is left; each delete batch is timed (on SQLite that is how long it holds the write
lock) and every statement counted.

    python -m bench.record_retention [AUDIT] [REPOS] [PARSES]

Prints one JSON object per backend: runs needed, rows deleted, statements per batch, the
median and slowest batch in milliseconds, the whole backlog's time, and the steady state: the
median audit batch once 300,000 recent entries and nothing old are left."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.scheduler_scale import POSTGRES_SERVER
from brisa.opssettings import RetentionSettings
from brisa.pruning import RecordRetention
from brisa.store import Store, open_store
from brisa.store.tables import audit_log, commit_parses

NOW = datetime(2026, 12, 7, tzinfo=UTC)
KEEP = RetentionSettings(audit_days=90, commit_parses_per_repo=1000)
STEADY = 300_000  # recent audit entries of the steady-state measure


def _populate(store: Store, audit: int, repos: int, parses: int) -> None:
    old = NOW - timedelta(days=400)
    rows = [
        {"at": old + timedelta(seconds=n * 200), "actor": "api", "address": "127.0.0.1",
         "via": "ui", "action": "clear", "team": "data", "target": f"data/etl/run{n}",
         "outcome": "ok", "message": None, "detail": {"tasks": ["extract", "load"]}}
        for n in range(audit)
    ]  # fmt: skip
    rows += [{**rows[0], "at": NOW - timedelta(hours=n)} for n in range(1000)]
    parsed = [
        {"repo": f"repo{r}", "code_version": f"{r:08x}{n:032x}", "team": "data",
         "parsed_at": NOW - timedelta(minutes=parses - n), "files_parsed": 40, "added": [],
         "changed": ["etl"], "removed": [], "errors": [], "resolved": []}
        for r in range(repos) for n in range(parses)
    ]  # fmt: skip
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(audit_log.insert(), rows[start : start + 5000])
        for start in range(0, len(parsed), 5000):
            conn.execute(commit_parses.insert(), parsed[start : start + 5000])


def _steady(store: Store, recent: int = STEADY) -> float:
    """An hourly run once the backlog is gone: `recent` entries, none old; the median of 10
    audit batches in milliseconds."""
    row = {"actor": "api", "address": "127.0.0.1", "via": "ui", "action": "clear",
           "team": "data", "target": "data/etl/r", "outcome": "ok", "message": None,
           "detail": {"tasks": ["extract", "load"]}}  # fmt: skip
    with store.engine.begin() as conn:
        for start in range(0, recent, 10_000):
            at = [NOW - timedelta(seconds=n) for n in range(start, min(start + 10_000, recent))]
            conn.execute(audit_log.insert(), [{**row, "at": t} for t in at])
    times = []
    for _ in range(10):
        started = time.perf_counter()
        store.prune_audit(NOW - timedelta(days=KEEP.audit_days), 1000)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def measure(url: str, audit: int, repos: int, parses: int) -> dict[str, Any]:
    store = open_store(url, migrate=True)
    try:
        _populate(store, audit, repos, parses)
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        sa.event.listen(store.engine, "before_cursor_execute", count)
        batches: list[float] = []
        pruned = {"audit_log": store.prune_audit, "commit_parses": store.prune_commit_parses}

        def timed(name: str) -> Any:
            def one(*args: Any) -> int:
                started = time.perf_counter()
                deleted = pruned[name](*args)
                batches.append((time.perf_counter() - started) * 1000)
                return deleted

            return one

        store.prune_audit = timed("audit_log")  # type: ignore[method-assign]
        store.prune_commit_parses = timed("commit_parses")  # type: ignore[method-assign]
        job = RecordRetention(lambda: store, KEEP, clock=lambda: NOW)
        runs, deleted = 0, {"audit_log": 0, "commit_parses": 0}
        started = time.perf_counter()
        while True:
            runs += 1
            done = job.run()
            deleted["audit_log"] += done.audit_log
            deleted["commit_parses"] += done.commit_parses
            if not done.more:
                break
        total = time.perf_counter() - started
        with store.engine.connect() as conn:
            left = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in (audit_log, commit_parses)
            }
        backlog, counted = len(batches), statements
        median, slowest = statistics.median(batches), max(batches)
        steady = _steady(store)
        return {
            "runs": runs,
            "deleted": deleted,
            "left": left,
            "batches": backlog,
            "statements_per_batch": round(counted / backlog, 2),
            "batch_median_ms": round(median, 1),
            "batch_max_ms": round(slowest, 1),
            "total_s": round(total, 2),
            "steady_audit_batch_median_ms": steady,
        }
    finally:
        store.close()


def main() -> None:
    audit = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repos = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    parses = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    import psycopg

    out: dict[str, object] = {"audit": audit, "repos": repos, "parses_per_repo": parses}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'brisa.db'}", audit, repos, parses)
    name = f"brisa_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        out["postgresql"] = measure(f"{POSTGRES_SERVER}/{name}", audit, repos, parses)
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
