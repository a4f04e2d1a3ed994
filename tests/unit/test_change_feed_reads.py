"""When the API process's change feed reads the outbox (ADR 0017, ADR 0032): at every wake-up
while a stream is subscribed, but only once per poll interval while none is, however often
this process's own commits wake it; and with a local waiter (SQLite), while none is, those
commits do not wake its thread at all. Counted with a fake outbox, waiters and clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from brisa.control.changefeed import Change, ChangeFeed
from brisa.store.changes import LocalWaiter

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
    def __init__(self, waiter: Any) -> None:
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

    def change_waiter(self) -> Any:
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


class CountedLocal(LocalWaiter):
    """This process's waiter (SQLite), counting the times it woke a thread that waited."""

    def __init__(self) -> None:
        super().__init__()
        self.woke = 0

    def commit(self) -> None:
        """What each commit of a change does to it (the store's `on_record` hook)."""
        self._event.set()

    def wait(self, timeout: float) -> bool:
        woken = super().wait(timeout)
        self.woke += woken and timeout > 0
        return woken


def commits_for(waiter: CountedLocal, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        waiter.commit()
        time.sleep(0.002)


def test_without_a_stream_local_commits_wake_no_reader() -> None:
    waiter = CountedLocal()
    outbox = Outbox(waiter)
    feed = ChangeFeed(outbox, poll_interval=0.05)
    feed.start()
    try:
        commits_for(waiter, 0.5)
        assert waiter.woke == 0
        assert outbox.reads - 1 <= 0.5 / 0.05 + 2  # once per poll interval
        feed.subscribe(["run:1"], lambda _: None)
        commits_for(waiter, 0.3)
        assert waiter.woke > 0  # a stream follows: commits wake the reader again
    finally:
        feed.close()
        waiter.close()
