"""The handler's own CPU time of the DAG page (with its 25 x 200 grid) and of the DAG list
(1,000 DAGs x 50 runs), with an optional cProfile of the handler (W10, docs/benchmarks.md).
The handler runs in the test client's server thread, so it is wrapped where it runs:
`time.thread_time()` around it is its CPU whatever else the machine does, and the profiler is
enabled in that thread only. Alone: `python -m bench.ui_profile [grid|list] [REQUESTS] [--profile]`.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import dag_list, ui_app, ui_grid
from brisa.web.ui import dag, lists


def _wrap(
    owner: Any, name: str, cpu: list[float], prof: cProfile.Profile | None
) -> Callable[[], None]:
    """Replace `owner.name` with a timed (and maybe profiled) copy; returns the undo."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        if prof:
            prof.enable()
        try:
            return original(*args, **kwargs)
        finally:
            if prof:
                prof.disable()
            cpu.append(time.thread_time() - start)

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, original)


def measure(which: str, requests: int, prof: cProfile.Profile | None = None) -> dict[str, float]:
    """Handler CPU median and wall p50 / p95 (ms) of `requests` GETs after one warm-up."""
    cpu: list[float] = []
    owner, name, path = (
        (dag, "_page", ui_grid.PAGE) if which == "grid" else (lists, "_dag_list", "/dags")
    )
    with tempfile.TemporaryDirectory(prefix="bench-uiprof-") as folder:
        home = Path(folder)
        store = ui_app.open_home(home)
        try:
            if which == "grid":
                ui_grid._add_runs(store, ui_app.publish(store, ui_grid._wide()), 0, ui_grid.RUNS)
            else:
                dag_list.seed(store, 1000, 50)
            undo = _wrap(owner, name, cpu, prof)
            try:
                with ui_app.client(store, home) as client:
                    client.get(path)  # caches warm; not counted
                    cpu.clear()
                    # timed_gets warms up once more: that request's CPU is in the median's set
                    times, _, _ = ui_app.timed_gets(client, path, requests)
            finally:
                undo()
        finally:
            store.close()
    return {
        "cpu_ms": statistics.median(cpu) * 1000,
        "p50_ms": statistics.median(times),
        "p95_ms": ui_app.p95(times),
    }


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--profile"]
    profiler = cProfile.Profile() if "--profile" in sys.argv else None
    part = args[0] if args else "grid"
    for key, value in measure(part, int(args[1]) if len(args) > 1 else 30, profiler).items():
        print(f"{part}.{key}: {value:.1f}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
