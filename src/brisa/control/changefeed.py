"""The change feed of one API process (ADR 0017): ONE reader follows the store's change
outbox and fans each change out, in memory, to the event streams subscribed to its topic.

However many browser tabs are open, the database sees one small query per wake-up of this
process's reader (`changes_after(last id)`), never one per tab. The reader wakes when a
change is committed (PostgreSQL `LISTEN`; in standalone, the process's own writes) or after
`poll_interval` (changes made by other processes on SQLite).

The last `keep` changes stay in memory, so a stream that resumes after a short gap is
replayed from here (`since`); an older gap answers None and the stream tells its page to
resync. Every `health_every` seconds a `health` change is fanned out without being stored, so
heartbeat ages on screen stay fresh.

While no stream is subscribed, the reader reads once every `poll_interval`, not at every
wake-up (ADR 0032): a busy standalone commits changes many times a second, and each read was
a statement for nobody; a local waiter (SQLite) is then not waited on at all, so those commits
wake no thread. `last_id`, which pages are rendered with, stays within a
`poll_interval` of the outbox (as for a process that only polls); a stream that subscribes
gets what follows it from the next read.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from brisa.store import changes

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0  # seconds between reads when nothing woke the reader
KEEP = 10_000  # changes kept in memory for replay
HEALTH_EVERY = 30.0
RETAIN = timedelta(hours=1)  # the outbox keeps this much history (replay across restarts)
PRUNE_EVERY = 600.0
HEALTH = "health"


@dataclass(frozen=True)
class Change:
    id: int
    topic: str


class Waiter(Protocol):
    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class ChangeSource(Protocol):
    """The store's outbox verbs (`brisa.store.changes.ChangeLog`)."""

    def changes_after(
        self, last: int, also: Iterable[int] = (), limit: int = 1000
    ) -> list[tuple[int, str]]: ...

    def last_change_id(self) -> int: ...

    def prune_changes(self, before: datetime) -> int: ...

    def change_waiter(self) -> Waiter: ...


@dataclass(eq=False)
class Subscription:
    """A stream's interest: `deliver` gets the changes of `topics` (called from the reader's
    thread: it must only hand them over, e.g. `loop.call_soon_threadsafe`), and None once the
    feed closes."""

    topics: frozenset[str]
    deliver: Callable[[list[Change] | None], None]


class ChangeFeed:
    def __init__(
        self,
        source: ChangeSource,
        *,
        poll_interval: float = POLL_INTERVAL,
        keep: int = KEEP,
        health_every: float = HEALTH_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._poll_interval = poll_interval
        self._health_every = health_every
        self._monotonic = monotonic
        self._recent: deque[Change] = deque(maxlen=keep)
        self._floor = 0  # every change after this id is in `_recent` (or was never made)
        self._cursor = changes.Cursor()
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiter: Waiter | None = None
        self._wanted = threading.Event()  # a stream subscribed, or the feed closes

    # Lifecycle

    def start(self) -> None:
        """Load the recent history and start the reader thread."""
        self.load()
        self._waiter = self._source.change_waiter()
        self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
        self._thread.start()

    def load(self) -> None:
        """Where reading starts: the newest id, with up to `keep` earlier changes to replay."""
        newest = self._source.last_change_id()
        start = max(0, newest - (self._recent.maxlen or 0))
        rows = self._source.changes_after(start, limit=self._recent.maxlen or 0)
        with self._lock:
            self._recent.extend(Change(i, t) for i, t in rows)
            self._floor = rows[0][0] - 1 if rows and rows[0][0] > start + 1 else start
            self._cursor.last = max(newest, rows[-1][0] if rows else 0)

    def close(self) -> None:
        """Stop reading and end every subscribed stream (without waiting for the reader:
        this runs in the server's signal handler)."""
        self.closing.set()
        self._wanted.set()
        if self._waiter is not None:
            with contextlib.suppress(Exception):
                self._waiter.close()
        with self._lock:
            subs, self._subs = list(self._subs), set()
        for sub in subs:
            sub.deliver(None)

    # Streams

    def subscribe(
        self, topics: Iterable[str], deliver: Callable[[list[Change] | None], None]
    ) -> Subscription:
        sub = Subscription(frozenset(topics), deliver)
        with self._lock:
            self._subs.add(sub)
        self._wanted.set()
        if self.closing.is_set():
            deliver(None)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def last_id(self) -> int:
        return self._cursor.last

    def since(self, last: int, topics: Iterable[str]) -> list[Change] | None:
        """The changes of `topics` after id `last`, or None when they are no longer all
        known (the stream must resync)."""
        wanted = frozenset(topics)
        with self._lock:
            if last < self._floor or last > self._cursor.last:
                return None
            return [c for c in self._recent if c.id > last and c.topic in wanted]

    # The reader

    def poll_once(self) -> list[Change]:
        """Read what changed since the last read and fan it out."""
        rows = self._source.changes_after(self._cursor.last, also=list(self._cursor.skipped))
        found = [Change(i, t) for i, t in rows]
        with self._lock:
            self._cursor.advance([c.id for c in found], self._monotonic())
            overflow = len(self._recent) + len(found) - (self._recent.maxlen or 0)
            if overflow > 0:  # the oldest changes leave memory: a gap before them is too old
                dropped = [*self._recent, *found][:overflow]
                self._floor = max(self._floor, *(c.id for c in dropped), 0)
            self._recent.extend(found)
        self._fan_out(found)
        return found

    def tick_health(self) -> None:
        """Tell `health` subscribers to refresh (not stored: it is about the clock)."""
        self._fan_out([Change(self._cursor.last, HEALTH)])

    def _fan_out(self, found: list[Change]) -> None:
        if not found:
            return
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            mine = [c for c in found if c.topic in sub.topics]
            if mine:
                sub.deliver(mine)

    def followed(self) -> bool:
        """Whether any stream is subscribed."""
        with self._lock:
            return bool(self._subs)

    def _wait_for_a_stream(self) -> None:
        """This process's own commits wake a local waiter (SQLite) at every change: while no
        stream is subscribed the reader does not wait on it (the commits then wake no
        thread), but on a subscription or the close, for at most `poll_interval`."""
        self._wanted.wait(self._poll_interval)
        self._wanted.clear()
        assert self._waiter is not None
        self._waiter.wait(0)  # forget the wake-ups meanwhile: the read comes next

    def _worth_a_read(self, read_at: float) -> bool:
        """Wait for a reason to read: a wake-up while a stream follows, or `poll_interval`."""
        if not self.followed() and isinstance(self._waiter, changes.LocalWaiter):
            self._wait_for_a_stream()
            return True
        woken = self._waiter is not None and self._waiter.wait(self._poll_interval)
        if woken and not self.followed() and not self.closing.is_set():
            # No stream to tell: a wake-up is not worth a read; every `poll_interval` is.
            return self._monotonic() - read_at >= self._poll_interval
        if woken:
            time.sleep(0.02)  # let the writer that woke us commit
        return True

    def _run(self) -> None:
        next_health = self._monotonic() + self._health_every
        next_prune = self._monotonic()
        read_at = -self._poll_interval
        while not self.closing.is_set():
            try:
                if not self._worth_a_read(read_at):
                    continue
                if self.closing.is_set():
                    return
                self.poll_once()
                read_at = now = self._monotonic()
                if now >= next_health:
                    next_health = now + self._health_every
                    self.tick_health()
                if now >= next_prune:
                    next_prune = now + PRUNE_EVERY
                    self._source.prune_changes(datetime.now(UTC) - RETAIN)
            except Exception:  # the database may be away for a while: keep trying
                log.warning("change feed: reading changes failed", exc_info=True)
                self.closing.wait(self._poll_interval)
