"""An attempt's pipe and its worker's messages, read by one thread: a log process's
(`ship_attempt`: `follow`, then `finish`), or the log server's loop, which calls `read_pipe`
and `take_messages` when either is readable (`logs.loop`).

    pipe (fds 1 and 2 of the worker) --read--> sink (masked, stamped, spooled)
    control connection (the worker's messages: `begin`, `close`) --> spool, shipper

The worker names its attempt and its secrets (`begin`) without waiting for an answer: the
attempt's start is never delayed by the log side's turn to run. What it writes after sending
`begin` can only reach the pipe after the message is in this connection's queue, so every
read of the pipe is followed by a look at the connection (without waiting) before the bytes
go on to be masked: a secret named in `begin` is masked in everything written after it.

A pipe and a connection read by one thread instead of two (a reader and a follower): one
thread fewer per attempt, and no hand-off between them.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from brisa.logs.capture import BATCH_BYTES, BATCH_WAIT, READ_BYTES, Spool
from brisa.logs.shipper import Shipper

MAX_MESSAGES = 1 << 16  # bytes read from the connection at a time


class Drain:
    """Reads the pipe `fd` into `sink` and obeys the worker's messages on `control`."""

    def __init__(
        self,
        fd: int,
        control: socket.socket,
        spool: Spool,
        shipper: Shipper,
        sink: Callable[[bytes], None],
    ) -> None:
        self._fd: int | None = fd
        self._control = control
        self._spool = spool
        self._shipper = shipper
        self._sink = sink
        self._pending = b""  # a message not complete yet
        self._ended = False  # the worker said close, or is gone
        self.closing: tuple[float, float] | None = None  # close's timeout and grace
        self.lost = 0  # bytes the sink refused (e.g. a full disk): dropped, never blocking

    def follow(self) -> tuple[float, float] | None:
        """Read and obey until the worker says `close` (its timeout and grace) or is gone
        (None); the pipe is read meanwhile."""
        watch = select.poll()
        watch.register(self._control, select.POLLIN)
        if self._fd is not None:
            watch.register(self._fd, select.POLLIN)
        while not self._ended:
            ready = {fd for fd, _ in watch.poll()}
            if self._control.fileno() in ready and self._messages():
                break
            if self._fd is not None and self._fd in ready:
                fd = self._fd
                size = self._read()
                if size == 0:
                    watch.unregister(fd)
                elif size < BATCH_BYTES and not self._ended:
                    # Output written line by line is read in batches, not one call per
                    # line; a message of the worker's cuts the wait short.
                    waiting = select.poll()
                    waiting.register(self._control, select.POLLIN)
                    if waiting.poll(BATCH_WAIT * 1000):
                        self._messages()
        return self.closing

    def finish(self, grace: float) -> bool:
        """Read the pipe to its end, for up to `grace` seconds; False when a process the
        attempt left behind still holds it (what it writes from now on is read and dropped,
        on a thread of its own, so that it never blocks on a full pipe)."""
        deadline = time.monotonic() + grace
        while self._fd is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                fd, self._fd = self._fd, None
                threading.Thread(target=_discard, args=(fd,), daemon=True).start()
                return False
            self._read()
        return True

    @property
    def ended(self) -> bool:
        """The worker said close, or is gone."""
        return self._ended

    def read_pipe(self) -> int:
        """One read of the pipe (the log server's loop calls it when the pipe is readable)."""
        return self._read() if self._fd is not None else 0

    def take_messages(self) -> bool:
        """The messages waiting on the connection (the log server's loop calls it when the
        connection is readable); True once the worker said close or is gone."""
        return self._messages()

    def queue(self, data: bytes) -> None:
        """Bytes of the connection read before this drain existed (after the opening)."""
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            if not self._ended:
                self._obey(line)

    def _read(self) -> int:
        """One read of the pipe, passed on after the worker's messages sent before it; 0 at
        its end (closed then)."""
        assert self._fd is not None
        try:
            data = os.read(self._fd, READ_BYTES)
        except OSError:
            data = b""
        if not data:
            os.close(self._fd)
            self._fd = None
            return 0
        if not self._ended:
            self._messages()  # a `begin` sent before these bytes were written comes first
        try:
            self._sink(data)
        except Exception:  # noqa: BLE001 - keep draining, or the task would block on writes
            self.lost += len(data)
        return len(data)

    def _messages(self) -> bool:
        """Obey the messages waiting on the connection (without waiting for more); True once
        the worker said close or is gone."""
        while not self._ended:
            try:
                data = self._control.recv(MAX_MESSAGES, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self._ended = True  # the worker is gone (closing stays None)
                break
            *lines, self._pending = (self._pending + data).split(b"\n")
            for line in lines:
                self._obey(line)
                if self._ended:
                    break
        return self._ended

    def _obey(self, line: bytes) -> None:
        """The attempt is named once, before the task runs: a later `begin` (the task's own
        code, holding the worker's descriptor) cannot move the log elsewhere, and what is not
        a message of the worker's is ignored."""
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message: dict[str, Any] = json.loads(line)
            if message["op"] == "close":
                self.closing = float(message["timeout"]), float(message["grace"])
                self._ended = True
            elif message["op"] == "begin" and not self._shipper.started:
                attempt, secrets = tuple(message["attempt"]), message["secrets"]
                if len(attempt) != 5 or not all(isinstance(s, str) for s in secrets):
                    raise ValueError("not an attempt")
                self._spool.add_secrets(secrets)
                self._spool.record_attempt(attempt)  # so that the executor can finish the log
                self._shipper.begin(attempt)


def _discard(fd: int) -> None:
    """Read a pipe to its end, dropping what comes (the attempt's log is closed)."""
    with contextlib.suppress(OSError):
        while os.read(fd, READ_BYTES):
            pass
    with contextlib.suppress(OSError):
        os.close(fd)
