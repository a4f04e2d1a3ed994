"""W10 (part) what the log viewer costs on a big log: `python -m bench.log_viewer [MB] [ROUNDS]`.

UI.md A.5, the log rows (the suite: 100 MB, quick: 5 MB). A log of MB megabytes (default 100,
about 1.2 M lines, errors at 10 % and 90 %) is written as one `full.log` to a local-folder
store, then read as the attempt page reads it (`logs.lines`, `web.ui.logtext`):

- tail page: the last 1,000 lines with their numbers, first time and again (newline counts
  are remembered per block), and the HTML rendered for them (bytes raw and gzipped);
- first error: the scan a failed attempt's page opens with;
- search: a token found only at 90 % of the log, the whole log scanned;
- download: time to the first block and the peak Python memory of streaming the whole log.

Figures are medians over ROUNDS (default 3), in milliseconds unless named.
"""

from __future__ import annotations

import gzip
import re
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from brisa.logs import layout, lines
from brisa.logs.lines import LogFile
from brisa.objectstore.local import LocalObjectStore
from brisa.web.ui.logtext import lines_html

PREFIX = layout.attempt_prefix("bench", "logs", "run", "task", 1)
WIRE_LEVEL = 1  # the app's GZipMiddleware (brisa.web.app)
LINE = "2026-12-07T03:06:08.463Z worker INFO processed batch {n} of the nightly load, 512 rows\n"


def write_log(store: LocalObjectStore, megabytes: int) -> tuple[int, int]:
    """The log, with an ERROR line at 10 % and one at 90 %; (size, line count)."""
    count = megabytes * 1024 * 1024 // len(LINE)
    marks = {count // 10: "ERROR first failure", count * 9 // 10: "ERROR needle-9f3a late"}
    text = "".join(
        LINE.format(n=n) if n not in marks else f"2026-12-07T03:06:08.463Z {marks[n]}\n"
        for n in range(count)
    )
    data = text.encode()
    store.put(PREFIX + layout.FULL, data)
    return len(data), count


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def download(store: LocalObjectStore) -> tuple[float, int]:
    """Milliseconds to the first block, peak traced bytes while streaming everything."""
    tracemalloc.start()
    start = time.perf_counter()
    first = 0.0
    offset = 0
    while True:
        data, offset = layout.read(store, PREFIX, offset, 1024 * 1024)
        if not data:
            break
        first = first or (time.perf_counter() - start) * 1000
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return first, peak


def round_once(store: LocalObjectStore) -> dict[str, float]:
    lines._COUNTS.clear()
    log = LogFile(store, PREFIX, over=True)
    tail_ms = timed(lambda: log.tail(1000))
    tail = log.tail(1000)
    render_ms = timed(lambda: lines_html(tail, ZoneInfo("Europe/Lisbon")))
    out = {"ui.log_page": tail_ms + render_ms, "ui.log_render": render_ms}
    out["ui.log_tail_again"] = timed(lambda: log.tail(1000))
    html = str(lines_html(tail, ZoneInfo("Europe/Lisbon")))
    out["ui.log_page_kb"] = len(html.encode()) / 1024
    out["ui.log_page_gzip_kb"] = len(gzip.compress(html.encode(), WIRE_LEVEL)) / 1024
    out["ui.log_first_error"] = timed(lambda: log.first("error"))
    needle = re.compile("needle-9f3a", re.IGNORECASE | re.MULTILINE)
    out["ui.log_search"] = timed(lambda: log.search(needle)) / 1000
    first, peak = download(store)
    out["ui.log_download_first"] = first
    out["ui.log_download_mib"] = peak / 1024 / 1024
    return out


def measure(folder: Path, megabytes: int, rounds: int) -> list[dict[str, float]]:
    """`rounds` rounds on one log of `megabytes` MB written into `folder`."""
    store = LocalObjectStore(folder)
    write_log(store, megabytes)
    return [round_once(store) for _ in range(rounds)]


def main(megabytes: int = 100, rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = measure(Path(folder), megabytes, rounds)
        for key in results[0]:
            print(f"{key:>24}: {statistics.median(r[key] for r in results):10.2f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
