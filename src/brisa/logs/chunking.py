"""When a log is cut into chunks and when a refused chunk is retried: pure decisions, used by
the shipper thread (`logs.shipper`), the worker's flusher (`logs.shipping`) and the recovery
of dead workers' logs (`logs.recovery`)."""

from __future__ import annotations

from typing import NamedTuple

FIRST_BACKOFF = 0.5  # seconds before the first retry of a refused chunk ...
MAX_BACKOFF = 10.0  # ... doubling up to this
FLUSH_LEAD = 0.2  # Python's stdout buffer is flushed this long before a chunk is cut


class Step(NamedTuple):
    flush: bool  # flush Python's stdout/stderr buffers now, so their lines make the next cut
    ship: int  # bytes to ship now (0: none)
    wake_at: float  # when to step again, at the latest


class Chunker:
    """When to cut chunks: at every tick (each `interval` seconds) whatever is waiting, and
    as soon as a whole chunk of `max_bytes` is waiting. Data written at t is thus shipped
    by t + interval. Python's own buffers are flushed `lead` seconds before each tick."""

    def __init__(self, interval: float, max_bytes: int, now: float) -> None:
        self.interval = max(interval, 0.01)
        self.max_bytes = max(max_bytes, 1)
        self.lead = min(FLUSH_LEAD, self.interval / 5)
        self._tick = now + self.interval
        self._flushed = False

    def step(self, now: float, pending: int) -> Step:
        ship = pending - pending % self.max_bytes  # whole chunks only, between ticks
        if now >= self._tick:
            ship = pending
            self._tick += ((now - self._tick) // self.interval + 1) * self.interval
            self._flushed = False
        flush = not self._flushed and now >= self._tick - self.lead
        self._flushed = self._flushed or flush
        return Step(flush, ship, self._tick if self._flushed else self._tick - self.lead)


def chunk_ranges(start: int, end: int, max_bytes: int) -> list[tuple[int, int]]:
    """[start, end) cut into pieces of at most `max_bytes`."""
    return [(lo, min(lo + max_bytes, end)) for lo in range(start, end, max(max_bytes, 1))]


def backoff(failures: int, jitter: float) -> float:
    """Seconds before retrying after `failures` failures in a row; `jitter` in [0, 1)."""
    delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(failures - 1, 30))
    return float(delay * (0.75 + jitter / 2))
