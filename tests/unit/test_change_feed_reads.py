"""When the API process's change feed reads the outbox (ADR 0017, ADR 0032): at every wake-up
while a stream is subscribed, but only once per poll interval while none is, however often
this process's own commits wake it. Counted with a fake outbox, waiter and clock."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from brisa.control.changefeed import Change, ChangeFeed

POLL = 1.0
COMMIT_EVERY = 0.01  # seconds between two wake-ups: a hundred commits of changes a second


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Commits:
    """A waiter woken `wakes` times, COMMIT_EVERY apart on the clock; then the feed closes."""

    def __init__(self, clock: Clock, wakes: int) -> None:
        self.clock, self.left = clock, wakes
        self.feed: ChangeFeed | None = None
        self.done = threading.Event()

    def wait(self, timeout: float) -> bool:
        if self.left == 0:
            assert self.feed is not None
            self.feed.closing.set()
            self.done.set()
            return False
        self.left -= 1
        self.clock.now += COMMIT_EVERY
        return True

    def close(self) -> None:
        self.done.set()


class Outbox:
    def __init__(self, waiter: Commits) -> None:
        self.waiter = waiter
        self.reads = 0

    def changes_after(
        self, last: int, also: Iterable[int] = (), limit: int = 1000
    ) -> list[tuple[int, str]]:
        self.reads += 1
        return []

    def last_change_id(self) -> int:
        return 0

    def prune_changes(self, before: datetime) -> int:
        return 0

    def change_waiter(self) -> Commits:
        return self.waiter


def reads_over(wakes: int, *, subscribed: bool) -> int:
    """Outbox reads of a feed woken `wakes` times (the read of its start left out)."""
    clock = Clock()
    waiter = Commits(clock, wakes)
    outbox = Outbox(waiter)
    feed = ChangeFeed(outbox, poll_interval=POLL, monotonic=clock)
    waiter.feed = feed
    delivered: list[list[Change] | None] = []
    if subscribed:
        feed.subscribe(["run:1"], delivered.append)
    feed.start()
    assert waiter.done.wait(30)
    feed.close()
    return outbox.reads - 1


def test_without_a_stream_the_feed_reads_once_per_poll_interval() -> None:
    wakes = 300  # three seconds of commits on the feed's clock
    assert reads_over(wakes, subscribed=False) <= wakes * COMMIT_EVERY / POLL + 1


def test_with_a_stream_every_wake_up_is_read() -> None:
    assert reads_over(20, subscribed=True) == 20
