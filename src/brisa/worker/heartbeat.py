"""The attempt's heartbeat: a thread calling the execution API's `heartbeat` every interval
while the task runs and its outcome is reported, started only when its first beat is due.

A thread costs a forked worker about 0.3 ms of CPU (its stack, its thread state, the pages
it copies, its share of the exit), and most attempts of a fan-out end long before their
first beat (ADR 0042). When the log is captured, the worker already runs one thread that
wakes on a timer, the one flushing Python's output before each chunk tick
(`logs.shipping.LogShipper`): it calls `tick` and wakes again when `tick` asks, and the
heartbeat thread is started by it when the first beat is due: `interval` seconds after the
attempt's start, as before. Without that thread (no log store), or once it has stopped
(the log server gone, the capture ended), the heartbeat thread is started at once.
"""

from __future__ import annotations

import _thread
import math
import os
import signal
import threading
from collections.abc import Callable

from brisa.worker.client import AttemptStale, ExecutionClient

# Time of the monotonic clock; `tick`'s last call (the ticking thread stops) is given this.
NO_MORE_TICKS = math.inf


class Heartbeat:
    """The heartbeat of one attempt: `started` once the API has recorded the start, `stop`
    set when the worker is done, `finishing` while the outcome is being reported."""

    def __init__(self, interval: float, log: Callable[[str], None]) -> None:
        self.interval = interval
        self.stop = threading.Event()
        self.finishing = threading.Event()
        self._log = log
        self._lock = _thread.allocate_lock()
        self._client: ExecutionClient | None = None
        self._started_at = 0.0
        self._ticked = False  # a ticking thread will start the heartbeat thread
        self._running = False

    def tick(self, now: float) -> float | None:
        """Called by the ticking thread, first when it starts, then when it was asked to:
        when to call again, or None (the heartbeat thread is running, or is not needed).
        `now` is `NO_MORE_TICKS` when the ticking thread stops: a started attempt's
        heartbeat thread is started then, else by `started`."""
        with self._lock:
            if self._running or self.stop.is_set():
                return None
            if now == NO_MORE_TICKS:
                self._ticked = False
                if self._client is not None:
                    self._run(0.0)
                return None
            self._ticked = True
            if self._client is None:
                return now + self.interval  # the start is not answered yet: look again then
            due = self._started_at + self.interval
            if now < due:
                return due
            self._run(0.0)
            return None

    def started(self, client: ExecutionClient, now: float) -> None:
        """The API recorded the attempt's start at `now` (monotonic): beat from `now +
        interval` on, through `client`."""
        with self._lock:
            self._client, self._started_at = client, now
            if not self._ticked:
                self._run(self.interval)

    def _run(self, first: float) -> None:
        # Not `threading.Thread.start`, which waits until the new thread has run (the
        # scheduler's turn, on a busy machine). The thread ends with the process.
        self._running = True
        assert self._client is not None
        _thread.start_new_thread(self._beat, (self._client, first))

    def _beat(self, client: ExecutionClient, first: float) -> None:
        """Heartbeat until stopped, also while the result is being reported (so a worker
        waiting for the API to come back is not taken for dead)."""
        wait = first
        while not self.stop.wait(wait):
            wait = self.interval
            try:
                client.call("heartbeat", {}, patience=self.interval)
            except AttemptStale:
                if self.finishing.is_set():
                    return  # the finish call says what became of the result
                self._log(
                    "this attempt is no longer current (cleared, cancelled or timed out); stopping"
                )
                os.killpg(os.getpgid(0), signal.SIGTERM)
            except RuntimeError as exc:
                self._log(f"heartbeat failed: {exc}")
