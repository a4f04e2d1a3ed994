"""The DAG page's grid against UI.md A.5: 25 runs x 200 tasks (5,000 cells) served by a real
`brisa standalone`; server time (p95 of 20 page loads), bytes raw and gzipped, and the column
fragment's time. Run alone: `python -m bench.ui_grid` (part of benchmark W10 once the driver
includes it). The statements per grid are counted in tests/contract/test_dag_reads.py.
"""

from __future__ import annotations

import gzip
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.standalone import Standalone
from brisa.core.states import RunState, TaskState
from brisa.store import open_store

TASKS, RUNS, LOADS = 200, 25, 20
DAG_FILE = """
from brisa import DAG, shell

with DAG("wide"):
    chains = [[shell(f"g{g}_t{t:02d}", "true") for t in range(20)] for g in range(10)]
    for chain in chains:
        for up, down in zip(chain, chain[1:]):
            up >> down
"""


def _seed(home: Path) -> list[str]:
    """25 finished runs of the 200-task DAG, a few failed tasks in each."""
    store = open_store(f"sqlite:///{home / 'brisa.db'}")
    dag = store.get_dag("default", "wide")
    now = datetime.now(UTC)
    run_ids = []
    for i in range(RUNS):
        logical = now - timedelta(hours=RUNS - i)
        run = store.create_run(team="default", dag_id="wide", version_id=dag.version_id,
                               run_id=f"bench_{i:02d}", run_type="manual", logical_date=logical,
                               interval=(logical, logical), conf={}, task_ids=dag.spec.tasks,
                               now=logical)  # fmt: skip
        run = store.get_run("default", "wide", run.run_id)
        failed = {tid for n, tid in enumerate(run.tasks) if n % 37 == i % 37}
        store.mark_tasks(run, set(run.tasks) - failed, TaskState.SUCCESS, logical)
        store.mark_tasks(run, failed, TaskState.FAILED, logical)
        store.set_run_state(run.id, RunState.FAILED, logical)
        run_ids.append(run.run_id)
    store.close()
    return run_ids


def _timed_get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return time.perf_counter() - started, body


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        (home / "dags").mkdir()
        (home / "dags" / "wide.py").write_text(DAG_FILE)
        with Standalone(home) as server:
            server.start(timeout=60)
            server.wait_dag("wide")
            server.request("PATCH", "/api/v1/teams/default/dags/wide", {"is_paused": True})
            run_ids = _seed(home)
            page = f"{server.url}/teams/default/dags/wide"
            _timed_get(page)  # caches warm
            times, body = [], b""
            for _ in range(LOADS):
                seconds, body = _timed_get(page)
                times.append(seconds)
            column = f"{server.url}/_/teams/default/dags/wide/grid/col/{run_ids[-1]}"
            col_times = [_timed_get(column)[0] for _ in range(LOADS)]
            return {
                "grid_page_p95_ms": round(_p95(times) * 1000, 1),
                "grid_page_kb": round(len(body) / 1024, 1),
                "grid_page_gzip_kb": round(len(gzip.compress(body)) / 1024, 1),
                "grid_cells": body.count(b'role="gridcell"'),
                "column_p95_ms": round(_p95(col_times) * 1000, 1),
            }


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value}", file=sys.stdout)
