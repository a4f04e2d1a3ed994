"""The shipper thread of the log process: the spool file, as numbered chunks, to the object
store while the attempt runs, then `full.log` (logs.layout describes the keys).

The local spool file is the source of truth: a chunk the store refused stays there and is
shipped, in order, once the store is back, with a line saying what was late. logs.layout is
imported by this thread the first time it is needed, off the task's start-up path.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from brisa.logs.chunking import Chunker, backoff, chunk_ranges
from brisa.logs.config import ShippingConfig

if TYPE_CHECKING:
    from brisa.objectstore import ObjectStore


class Spooled(Protocol):
    """What the shipper cuts chunks from: the whole log so far, in a local file
    (`logs.capture.Spool`; the Kubernetes executor's raw pod log, `podlogs.RawSpool`)."""

    path: Path
    size: int

    def read(self, start: int, end: int) -> bytes: ...

    def note(self, message: str) -> None: ...


class _Outage:
    def __init__(self, since: float, reason: str, shipped_at_start: int) -> None:
        self.since = since
        self.reason = reason
        self.shipped_at_start = shipped_at_start
        self.failures = 0
        self.retry_at = 0.0


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _random() -> float:
    """The retry jitter. `random` is imported in the log process on its first retry: the fork
    server imports this module, and each worker is forked from its memory."""
    import random

    return random.random()


class Shipper:
    """Ships the spool as numbered chunks from its own thread, then `full.log` on close.

    A refused chunk stays in the spool and is retried with backoff; chunks keep their order
    because the next one is only cut from what follows the last shipped byte. The thread
    calls `tick` whenever something may be due and `finish` once closing; tests call them
    directly, with a fake clock.
    """

    def __init__(
        self,
        spool: Spooled,
        config: ShippingConfig,
        *,
        open_store: Callable[[], ObjectStore],
        origin: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] | None = None,
        resume: tuple[int, int] = (0, 0),
    ) -> None:
        self._spool = spool
        self._open_store = open_store
        self._clock, self._sleep, self._jitter = clock, sleep, jitter or _random
        self._chunker = Chunker(config.chunk_interval, config.chunk_bytes, origin)
        self._cond = threading.Condition()
        self._attempt: tuple[str, str, str, str, int] | None = None
        self._prefix_key: str | None = None
        self._store: ObjectStore | None = None
        # (bytes, chunks) the store holds already: a log shipped on from where it was left.
        self._shipped, self._seq = resume
        self._outage: _Outage | None = None
        self._closing = False
        self._abandoned = False
        self._deadline = float("inf")
        self._wake_at = 0.0
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self.problem: str | None = None
        self.complete = False

    @property
    def started(self) -> bool:
        return self._attempt is not None

    @property
    def _prefix(self) -> str:
        """The attempt's prefix in the store (logs.layout is imported the first time it is
        needed, in this thread: a short task has reported its outcome by then)."""
        from brisa.logs.layout import attempt_prefix

        assert self._attempt is not None
        if self._prefix_key is None:
            self._prefix_key = attempt_prefix(*self._attempt)
        return self._prefix_key

    def start(self) -> None:
        self._thread.start()

    def begin(self, attempt: tuple[str, str, str, str, int]) -> None:
        """The attempt (team, dag, run, task, try) is known: shipping may begin."""
        with self._cond:
            self._attempt = attempt
            self._cond.notify()

    def poke(self) -> None:
        """After each write: wake the shipper as soon as a whole chunk is waiting."""
        if self._pending() >= self._chunker.max_bytes:
            with self._cond:
                self._cond.notify()

    def close(self, timeout: float) -> str | None:
        """Ship the rest and full.log within `timeout` s; what went wrong, if anything."""
        with self._cond:
            self._closing = True
            self._deadline = self._clock() + timeout
            self._cond.notify()
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            return f"the log store did not answer within {timeout:.0f}s; {self._kept()}"
        return self.problem

    def finish_within(self, timeout: float) -> str | None:
        """`close` without the thread: the rest and full.log, within `timeout` s, on the
        caller's thread (the log server's store threads, `logs.loop`); what went wrong."""
        with self._cond:
            self._closing = True
            self._deadline = self._clock() + timeout
        self.finish()
        return self.problem

    @property
    def wake_at(self) -> float:
        """When `tick` is next due (after a `tick`)."""
        return self._wake_at

    def due(self, now: float) -> bool:
        """Whether a `tick` at `now` has store work to do (false: it would only decide when)."""
        if self._attempt is None or not self._pending():
            return False
        if self._outage is not None:
            return now >= self._outage.retry_at
        return now >= self._wake_at or self._pending() >= self._chunker.max_bytes

    def abandon(self) -> None:
        """Stop shipping at once, leaving the log unfinished (no full.log): another process
        ships it on from the chunks stored (a Kubernetes executor that lost a namespace's
        lease, ADR 0028). A chunk being written when this is called still lands."""
        with self._cond:
            self._abandoned = self._closing = True
            self._cond.notify()

    def tick(self, now: float) -> None:
        """Ship what is due at `now`: chunks at a tick or when full, retries after backoff."""
        step = self._chunker.step(now, self._pending())
        ship, outage = step.ship, self._outage
        if outage is not None:
            ship = self._pending() if now >= outage.retry_at else 0
        if ship:
            self._ship(self._shipped + ship)
        outage = self._outage
        self._wake_at = step.wake_at if outage is None else min(step.wake_at, outage.retry_at)

    def finish(self) -> None:
        """After the output has ended: full.log, then the chunks go. What is pending goes
        straight into full.log (one request); during an outage it is shipped as chunks
        first, in order, so that the log says how late it was."""
        from brisa.logs.layout import FULL, chunk_key

        if self._attempt is None:
            self.problem = "the attempt did not start, so its log was not shipped"
            return
        prefix = self._prefix
        written = self._outage is None and self._put(prefix + FULL)
        if not written and not self._finish_late(prefix + FULL):
            return
        with contextlib.suppress(Exception):  # readers prefer full.log to chunks anyway
            assert self._store is not None
            if self._seq:
                self._store.delete([chunk_key(prefix, n) for n in range(1, self._seq + 1)])
        self.complete = True

    def _finish_late(self, full_key: str) -> bool:
        """During an outage: what is pending as chunks, in order (the note on the delay goes
        with them), then full.log, retrying until the deadline; False (and `problem`) if not."""
        if not self._until_deadline(lambda: self._ship(self._spool.size) and not self._pending()):
            self.problem = f"{self._pending()} bytes of the log were not shipped ({self._why()})"
            self.problem += f"; {self._kept()}"
            return False
        if not self._until_deadline(lambda: self._put(full_key)):
            self.problem = f"{full_key.rsplit('/', 1)[-1]} was not written ({self._why()})"
            self.problem += f"; {self._kept()}"
            return False
        return True

    def _pending(self) -> int:
        return 0 if self._attempt is None else self._spool.size - self._shipped

    def _kept(self) -> str:
        return f"the whole log is kept in {self._spool.path}"

    def _why(self) -> str:
        return self._outage.reason if self._outage else "out of time"

    def _run(self) -> None:
        while not self._wait():
            self.tick(self._clock())
        if not self._abandoned:
            self.finish()

    def _wait(self) -> bool:
        """Sleep until there is something to do; True once closing."""
        with self._cond:
            chunk_waiting = self._outage is None and self._pending() >= self._chunker.max_bytes
            if not (self._closing or chunk_waiting):
                self._cond.wait(max(0.0, self._wake_at - self._clock()))
            return self._closing

    def _ship(self, target: int) -> bool:
        from brisa.logs.layout import chunk_key

        try:
            store = self._store = self._store or self._open_store()
            for start, end in chunk_ranges(self._shipped, target, self._chunker.max_bytes):
                store.put(chunk_key(self._prefix, self._seq + 1), self._spool.read(start, end))
                self._seq, self._shipped = self._seq + 1, end
        except Exception as exc:  # noqa: BLE001 - a log outage must never reach the task
            self._failed(exc)
            return False
        if self._outage is not None:
            self._recovered()
        return True

    def _put(self, key: str) -> bool:
        try:
            store = self._store = self._store or self._open_store()
            store.put(key, self._spool.read(0, self._spool.size))
        except Exception as exc:  # noqa: BLE001 - a log outage must never reach the task
            self._failed(exc)
            return False
        self._outage = None
        return True

    def _failed(self, exc: BaseException) -> None:
        now = self._clock()
        if self._outage is None:
            self._outage = _Outage(now, _reason(exc), self._shipped)
            self._spool.note(
                f"brisa: the log store is unavailable ({_reason(exc)}); "
                "this log is kept on the worker and shipped when the store is back"
            )
        self._outage.failures += 1
        self._outage.reason = _reason(exc)
        self._outage.retry_at = now + backoff(self._outage.failures, self._jitter())

    def _recovered(self) -> None:
        outage, self._outage = self._outage, None
        assert outage is not None
        self._spool.note(
            f"brisa: the log store was unavailable for {self._clock() - outage.since:.1f}s "
            f"({outage.reason}); {self._shipped - outage.shipped_at_start} bytes of this log "
            f"were shipped late, after {outage.failures} failed attempt(s)"
        )

    def _until_deadline(self, attempt: Callable[[], bool]) -> bool:
        while not attempt():
            retry_at = self._outage.retry_at if self._outage else self._clock()
            if retry_at >= self._deadline:
                return False
            self._sleep(max(0.0, retry_at - self._clock()))
        return True
