"""W10 (part, full suite only) the requests per minute of a live grid (UI.md A.5: ≤ 30 per tab):
headless Chromium (`brisa.testing.browser`) on the DAG page of a running run whose chain of
tasks finishes one task every 2 s, every request the page makes counted for `seconds` after it
loaded. Run by bench/live_load.py on its standalone; alone, on a standalone of its own:
`python -m bench.ui_browser [SECONDS]` (default 60), which prints the requests per minute and
how many went to each path.
"""

from __future__ import annotations

import collections
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from bench import dagfiles
from bench.standalone import Standalone
from brisa.testing import browser

DAG_ID = "bench_live_grid"
_DAG = '''"""Written by the benchmark suite: a chain of tasks finishing one every 2 s."""

import time

from brisa import DAG, task


@task
def tick():
    time.sleep(2)


with DAG("{dag_id}", description="bench: a live grid"):
    previous = None
    for i in range({n}):
        current = tick.override(task_id=f"t{{i:03d}}")()
        if previous is not None:
            previous >> current
        previous = current
'''


def grid_requests(server: Standalone, seconds: float) -> list[str]:
    """The paths the DAG page of a running run requests in `seconds` after it loaded, while one
    task ends every 2 s."""
    from playwright.sync_api import sync_playwright

    tasks = int(seconds / 2) + 15  # still running when the count stops
    dagfiles.drop(server.dags, DAG_ID, _DAG.format(dag_id=DAG_ID, n=tasks))
    server.wait_dag(DAG_ID, timeout=120, every=0.1)
    server.trigger(DAG_ID)
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        try:
            page = chromium.new_page()
            page.goto(f"{server.url}/teams/default/dags/{DAG_ID}", wait_until="load")
            requests: list[str] = []
            page.on("request", lambda request: requests.append(urlsplit(request.url).path))
            page.wait_for_timeout(seconds * 1000)  # events are delivered while waiting
        finally:
            chromium.close()
    return requests


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with tempfile.TemporaryDirectory(prefix="bench-live-grid-") as folder:
        home = Path(folder)
        with Standalone(home, home / "dags") as standalone:
            standalone.start(timeout=60)
            paths = grid_requests(standalone, seconds)
    print(f"live.grid_requests: {len(paths) * 60 / seconds:.1f} per minute")
    for path, count in collections.Counter(paths).most_common():
        print(f"  {count:4d} {path}")
