"""W10 (part) the DAG page's grid against UI.md A.5: 25 runs x 200 tasks (5,000 cells) in 10
chains, in process (bench/ui_app.py). Server p95 of the DAG page, its size raw and on the wire
(gzipped by the app), the SQL statements of the grid fragment at 5 runs and at 25 (the budget:
the same few whatever the run count; with the finished columns' cells kept by the page before,
and at 25 runs with that cache empty), and the column fragment a live update fetches. Alone:
`python -m bench.ui_grid`.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import ui_app
from brisa import DAG, shell
from brisa.core.states import RunState, TaskState
from brisa.store import Store
from brisa.web.ui.gridcache import GridCache

RUNS, FEW_RUNS = 25, 5
PAGE = "/teams/default/dags/wide"
GRID = "/_/teams/default/dags/wide/grid"


def _wide() -> DAG:
    """200 tasks: 10 chains of 20."""
    with DAG("wide", start_date=ui_app.T0) as dag:
        for g in range(10):
            chain = [shell(f"g{g}_t{t:02d}", "true") for t in range(20)]
            for up, down in itertools.pairwise(chain):
                up >> down
    return dag


def _add_runs(store: Store, version: int, first: int, last: int) -> str:
    """Finished runs number `first` to `last - 1`, a few failed tasks in each; the last id."""
    dag = store.get_dag("default", "wide")
    run_id = ""
    for i in range(first, last):
        at = ui_app.T0 + timedelta(hours=i)
        run = store.create_run(team="default", dag_id="wide", version_id=version,
                               run_id=f"bench_{i:02d}", run_type="manual", logical_date=at,
                               interval=(at, at), conf={}, task_ids=dag.spec.tasks,
                               now=at)  # fmt: skip
        run = store.get_run("default", "wide", run.run_id)
        failed = {tid for n, tid in enumerate(run.tasks) if n % 37 == i % 37}
        store.mark_tasks(run, set(run.tasks) - failed, TaskState.SUCCESS, at)
        store.mark_tasks(run, failed, TaskState.FAILED, at)
        store.set_run_state(run.id, RunState.FAILED, at)
        run_id = run.run_id
    return run_id


def _statements(store: Store, client: Any) -> float:
    client.get(GRID)  # caches warm
    return float(ui_app.statements(store, lambda: client.get(GRID)))


def _statements_uncached(store: Store, client: Any) -> float:
    """The same with the grid's cache of finished columns empty (a process's first page, or
    every column changed): the finished runs' tasks are read too."""
    client.app.state.grid_cache = GridCache(max_bytes=32_000_000)
    return float(ui_app.statements(store, lambda: client.get(GRID)))


def measure(home: Path, repetitions: int) -> dict[str, float]:
    store = ui_app.open_home(home)
    try:
        version = ui_app.publish(store, _wide())
        _add_runs(store, version, 0, FEW_RUNS)
        with ui_app.client(store, home) as client:
            out = {"ui.grid_statements_few": _statements(store, client)}
            last = _add_runs(store, version, FEW_RUNS, RUNS)
            out["ui.grid_statements"] = _statements(store, client)
            out["ui.grid_statements_uncached"] = _statements_uncached(store, client)
            times, body, wire = ui_app.timed_gets(client, PAGE, repetitions)
            out["ui.grid_p95"] = ui_app.p95(times)
            out["ui.grid_p50"] = statistics.median(times)
            out["ui.grid_kb"] = len(body) / 1024
            out["ui.grid_gzip_kb"] = wire / 1024
            out["ui.grid_cells"] = float(body.count(b'role="gridcell"'))
            times, _, _ = ui_app.timed_gets(client, f"{GRID}/col/{last}", repetitions)
            out["ui.grid_column_p95"] = ui_app.p95(times)
        return out
    finally:
        store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-grid-") as folder:
        for key, value in measure(Path(folder), 20).items():
            print(f"{key}: {value:.1f}")
