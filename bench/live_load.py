"""UI load cannot starve workers (UI.md A.1-6): task-to-task latency of a chain run while
browser tabs hold event streams and refresh what they are told changed, and while tabs hammer
the UI with requests, compared with the same run on a quiet server.

    python -m bench.live_load [--tabs 20] [--runs 3] [--chain 10]

W10 runs it (bench/ui.py: `live.*` figures).
Each "tab" is a thread on 127.0.0.1 holding `GET /_/events?topics=health` (the Overview's
topic, which every run and task change invalidates) and fetching `/_/overview/runs` for each
invalidation it gets, as htmx would. "Hammering" tabs instead fetch the Overview page in a loop,
with no pause: the worst a browser-side bug could do. Gaps come from the API's timestamps
(task end → next task start), as in W3.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import statistics
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import dagfiles, ui_browser
from bench.standalone import Standalone


def _gaps(run: Any) -> list[float]:
    tasks = sorted(run["tasks"], key=lambda t: t["task_id"])
    return [
        (
            datetime.fromisoformat(b["start_date"]) - datetime.fromisoformat(a["end_date"])
        ).total_seconds()
        * 1000
        for a, b in itertools.pairwise(tasks)
    ]


def _chain_gaps(server: Standalone, n: int, runs: int) -> list[float]:
    gaps: list[float] = []
    for _ in range(runs):
        run_id = server.trigger(dagfiles.chain_id(n))["run_id"]
        run = server.wait_for_run(dagfiles.chain_id(n), run_id, timeout=120, every=0.2)
        gaps += _gaps(run)
    return gaps


class Tab(threading.Thread):
    """One browser tab: its stream open, a fragment fetch per invalidation (or, hammering,
    page fetches without pause)."""

    def __init__(self, port: int, stop: threading.Event, *, hammer: bool) -> None:
        super().__init__(daemon=True)
        self.port, self.stop, self.hammer = port, stop, hammer
        self.fetches = 0
        self.refused = 0

    def _get(self, path: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def run(self) -> None:
        if self.hammer:
            while not self.stop.is_set():
                self.refused += self._get("/") == 503
                self.fetches += 1
            return
        stream = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        stream.request("GET", "/_/events?topics=health")
        response = stream.getresponse()
        with contextlib.suppress(OSError):
            while not self.stop.is_set() and (line := response.fp.readline()):
                if line.startswith(b"event: ch-"):
                    self._get("/_/overview/runs")
                    self.fetches += 1
        stream.close()


def _with_tabs(server: Standalone, tabs: int, chain: int, runs: int, *, hammer: bool) -> Any:
    stop = threading.Event()
    started = [Tab(server.port, stop, hammer=hammer) for _ in range(tabs)]
    for tab in started:
        tab.start()
    try:
        gaps = _chain_gaps(server, chain, runs)
    finally:
        stop.set()
    for tab in started:
        tab.join(timeout=20)
    return gaps, sum(t.fetches for t in started), sum(t.refused for t in started)


def measure(
    home: Path, tabs: int, runs: int, chain: int, browser_seconds: float = 0.0
) -> dict[str, float]:
    """Gaps of `runs` runs of a `chain`-task chain: quiet, `tabs` streaming, `tabs` hammering;
    then, if `browser_seconds`, a live grid's requests per minute in Chromium."""
    env = {"BRISA__UI__MAX_STREAMS_PER_USER": str(tabs + 5)}
    with Standalone(home, home / "dags", env=env) as server:
        server.start(timeout=60)
        dagfiles.drop(server.dags, dagfiles.chain_id(chain), dagfiles.chain(chain))
        server.wait_dag(dagfiles.chain_id(chain), timeout=120, every=0.1)
        _chain_gaps(server, chain, 1)  # warm-up: starts the fork server
        quiet = _chain_gaps(server, chain, runs)
        streaming, fetched, _ = _with_tabs(server, tabs, chain, runs, hammer=False)
        hammering, hammered, refused = _with_tabs(server, tabs, chain, runs, hammer=True)
        browser = {}
        if browser_seconds:
            requests = ui_browser.grid_requests(server, browser_seconds)
            browser["live.grid_requests"] = len(requests) * 60 / browser_seconds
    return browser | {
        "live.gap_quiet": statistics.median(quiet),
        "live.gap_streaming": statistics.median(streaming),
        "live.gap_streaming_added": statistics.median(streaming) - statistics.median(quiet),
        "live.gap_streaming_max": max(streaming),
        "live.gap_hammering": statistics.median(hammering),
        "live.gap_hammering_max": max(hammering),
        "live.fetches_streaming": float(fetched),
        "live.fetches_hammering": float(hammered),
        "live.refused": float(refused),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.live_load")
    parser.add_argument("--tabs", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chain", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="brisa-live-bench-") as tmp:
        for key, value in measure(Path(tmp), args.tabs, args.runs, args.chain).items():
            print(f"{key}: {value:.1f}")


if __name__ == "__main__":
    main()
