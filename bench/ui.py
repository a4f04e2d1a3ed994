"""W10 the web UI against UI.md A.5: the four parts, each in a folder of its own under the
run's temporary folder.

- DAG list (bench/dag_list.py): 1,000 DAGs x 50 runs, 300 tags (quick: 100 DAGs), in process;
- grid (bench/ui_grid.py): 25 runs x 200 tasks, statements at 5 and 25 runs, in process;
- log viewer (bench/log_viewer.py): a 100 MB log (quick: 5 MB) in a local-folder store;
- live load (bench/live_load.py): a real standalone's chain gaps while tabs stream or hammer;
  then (full suite only) a live grid's requests per minute in Chromium (bench/ui_browser.py).
"""

from __future__ import annotations

from pathlib import Path

from bench import dag_list, live_load, log_viewer, ui_grid
from bench.figures import Results
from bench.plan import Plan


def run(plan: Plan, work: Path, results: Results) -> None:
    for name in ("dag_list", "grid", "log", "live"):
        (work / "ui" / name).mkdir(parents=True, exist_ok=True)
    results.add(
        dag_list.measure(work / "ui/dag_list", plan.ui_dags, plan.ui_runs, plan.ui_requests)
    )
    results.add(ui_grid.measure(work / "ui/grid", plan.ui_requests))
    for figures in log_viewer.measure(work / "ui/log", plan.ui_log_mb, plan.ui_log_rounds):
        results.add(figures)
    results.add(
        live_load.measure(
            work / "ui/live",
            plan.ui_tabs,
            plan.ui_chain_runs,
            plan.ui_chain,
            plan.ui_browser_seconds,
        )
    )
