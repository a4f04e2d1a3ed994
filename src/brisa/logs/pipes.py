"""One thread reading the pipes of every attempt a log server ships (ADR 0026).

A forked log process reads its one worker's pipe on a thread of its own (`capture.Reader`).
The log server ships many attempts at once; a reader thread each cost it a thread's start,
its stack and the GIL hand-offs between them on every attempt. Here one thread waits on all
the pipes (`selectors`: epoll on Linux) and hands what it reads to each attempt's `Backlog`,
as a reader thread did:

- it never blocks on an attempt: a backlog over its limit (a task printing faster than its
  spool takes it) stops that pipe being read until the spooler has caught up, so the task
  blocks on its writes as it did behind a blocked reader thread, and the others go on;
- a short read pauses that pipe for `BATCH_WAIT` seconds (few, larger writes to the spool),
  unless the worker said its output is ending;
- at the end of a pipe (every writer closed it) the descriptor is closed and `join` returns.

A `HubReader` has a reader thread's interface (`start`, `ending`, `join`, `lost`), so
`shipping.ship_attempt` runs the same steps with either.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import threading
import time
from collections.abc import Callable

from brisa.logs.capture import BATCH_BYTES, BATCH_WAIT, READ_BYTES, Backlog

Action = Callable[[], None]


class PipeHub:
    """The log server's pipe reader: one thread, started with the first reader."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._pending: list[Action] = []
        self._timers: list[tuple[float, int, Action]] = []
        self._order = itertools.count()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None

    def reader(self, fd: int, backlog: Backlog) -> HubReader:
        """A reader of pipe `fd` into `backlog` (it reads once started)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="log-pipes", daemon=True)
                self._thread.start()
        return HubReader(self, fd, backlog)

    def call(self, action: Action) -> None:
        """Run `action` on the hub's thread (every change to the selector happens there)."""
        with self._lock:
            self._pending.append(action)
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is on its way already
            os.write(self._wake_write, b"w")

    def later(self, delay: float, action: Action) -> None:
        """On the hub's thread: run `action` in `delay` seconds."""
        heapq.heappush(self._timers, (self._monotonic() + delay, next(self._order), action))

    def watch(self, fd: int, reader: HubReader) -> None:
        self._selector.register(fd, selectors.EVENT_READ, reader)

    def unwatch(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def _run(self) -> None:
        while True:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - self._monotonic())
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_read, 4096)
                else:
                    key.data.readable()
            with self._lock:
                pending, self._pending = self._pending, []
            for action in pending:
                action()
            now = self._monotonic()
            while self._timers and self._timers[0][0] <= now:
                heapq.heappop(self._timers)[2]()


class HubReader:
    """One attempt's pipe, read by the hub's thread; the interface of `capture.Reader`."""

    def __init__(self, hub: PipeHub, fd: int, backlog: Backlog) -> None:
        self._hub = hub
        self._fd = fd
        self._backlog = backlog
        self._done = threading.Event()
        self._ending = False
        self._watched = False
        self._closed = False
        self.lost = 0  # bytes the backlog refused: dropped, never blocking

    def start(self) -> None:
        self._hub.call(self._resume)

    def ending(self) -> None:
        """The writers are closing the pipe: read on to its end without pausing."""
        self._hub.call(self._end)

    def join(self, timeout: float) -> bool:
        """False if the pipe is still open after `timeout` s (held by a process the attempt
        left behind: it is not waited for)."""
        return self._done.wait(timeout)

    # On the hub's thread only, from here on.

    def readable(self) -> None:
        try:
            data = os.read(self._fd, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            self._close()
            return
        if not data:
            self._close()
            return
        try:
            self._backlog.put(data, block=False)
        except Exception:  # noqa: BLE001 - keep draining, or the task would block on writes
            self.lost += len(data)
        if self._backlog.over_limit:
            self._pause()  # until the spooler has caught up
            self._backlog.when_room(lambda: self._hub.call(self._resume))
        elif len(data) < BATCH_BYTES and not self._ending:
            self._pause()
            self._hub.later(BATCH_WAIT, self._resume)

    def _end(self) -> None:
        self._ending = True
        self._resume()

    def _resume(self) -> None:
        if not self._watched and not self._closed and not self._backlog.over_limit:
            self._hub.watch(self._fd, self)
            self._watched = True

    def _pause(self) -> None:
        if self._watched:
            self._hub.unwatch(self._fd)
            self._watched = False

    def _close(self) -> None:
        self._pause()
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._done.set()
