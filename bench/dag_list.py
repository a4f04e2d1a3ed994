"""W10 (part) DAG list: server p95 of the DAG list page, filtered by tag and by owner, and of
the tag and owner typeaheads at 1,000 DAGs x 50 runs with 300 tags and 300 owners on SQLite
(UI.md A.5; quick: 100 DAGs), in process (bench/ui_app.py). Alone:
`python -m bench.dag_list [DAGS] [RUNS]`.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from bench import ui_app
from brisa import DAG, shell
from brisa.store import Store

TAGS = 300
PATHS = {
    "dags": "/dags",
    "dags_tag": "/dags?tag=tag-290",
    "typeahead": "/_/dags/tags?tag=tag-29",
    "dags_owner": "/dags?owner=owner-290",
    "owner_typeahead": "/_/dags/owners?owner=owner-29",
}


def _dag(index: int) -> DAG:
    labels = {f"tag-{index % TAGS:03d}", f"tag-{(index * 7) % TAGS:03d}"}
    with DAG(
        f"dag_{index:04d}",
        schedule="0 3 * * *",
        tags=sorted(labels),
        owner=f"owner-{index % TAGS:03d}",
        start_date=ui_app.T0,
    ) as dag:
        shell("a", "true") >> shell("b", "true")
    return dag


def seed(store: Store, dags: int, runs: int) -> None:
    for index in range(dags):
        dag = _dag(index)
        ui_app.finished_runs(store, dag.dag_id, ui_app.publish(store, dag), runs, offset=index)


def measure(home: Path, dags: int, runs: int, repetitions: int) -> dict[str, float]:
    store = ui_app.open_home(home)
    try:
        seed(store, dags, runs)
        out: dict[str, float] = {}
        with ui_app.client(store, home) as client:
            for name, path in PATHS.items():
                times, _, wire = ui_app.timed_gets(client, path, repetitions)
                out[f"ui.{name}_p95"] = ui_app.p95(times)
                out[f"ui.{name}_p50"] = statistics.median(times)
                out[f"ui.{name}_gzip_kb"] = wire / 1024
        return out
    finally:
        store.close()


if __name__ == "__main__":
    dags, runs = (int(a) for a in (sys.argv[1:3] or ["1000", "50"]))
    with tempfile.TemporaryDirectory(prefix="bench-dag-list-") as folder:
        for key, value in measure(Path(folder), dags, runs, 30).items():
            print(f"{key}: {value:.1f}")
