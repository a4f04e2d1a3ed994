"""Log capture: everything the worker and its children write to fds 1 and 2 becomes
stamped, masked lines in a local spool file, the source of the chunks the shipper sends.

    fds 1 and 2 -> pipe -> Reader thread: bytes -> Masker -> LineStamper -> Spool file

Masking happens before anything is written, so a secret never reaches the spool file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from brisa.logs.echo import Echo
from brisa.logs.masking import Masker

READ_BYTES = 1 << 20
PIPE_BYTES = 1 << 20
# After a small read the reader waits this long for more: output written line by line (one
# write each, e.g. PYTHONUNBUFFERED) is then processed in batches, not one call per line.
BATCH_BYTES = 1 << 16
BATCH_WAIT = 0.005


def utc_stamp(wall: float) -> str:
    """ISO-8601 UTC with milliseconds: 2026-11-24T10:00:00.123Z"""
    seconds, millis = divmod(round(wall * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class LineStamper:
    """Prefixes every line of a byte stream with the UTC time it was read (`<stamp> <line>`).

    Nothing is held back: a partial line is passed on as it is, and its continuation (read
    later, perhaps in the next chunk) carries no second stamp. All lines of one read share
    the stamp of that read.
    """

    def __init__(self) -> None:
        self.at_line_start = True

    def feed(self, data: bytes, wall: float) -> bytes:
        if not data:
            return b""
        stamp = utc_stamp(wall).encode() + b" "
        ends_line = data.endswith(b"\n")
        # Every newline but a final one is followed by a stamp (one pass, one copy).
        body = data.replace(b"\n", b"\n" + stamp, data.count(b"\n") - ends_line)
        head, self.at_line_start = self.at_line_start, ends_line
        return stamp + body if head else body

    def note(self, message: bytes, wall: float) -> bytes:
        """A line of the worker's own, on a line of its own."""
        return self.end() + self.feed(message.rstrip(b"\n") + b"\n", wall)

    def end(self) -> bytes:
        """What completes the current line, if one is open."""
        if self.at_line_start:
            return b""
        self.at_line_start = True
        return b"\n"


SPOOL_SUFFIX = ".spool"


def spool_path(pid: int) -> Path:
    """Where the worker keeps its whole log locally: beside the file the executor sends its
    stdout to (`<that file>.<pid>.spool`, a flat file: no folder to make and remove for each
    attempt), else in a new temporary folder (`<pid>.log` there). Before s21 (2026-12-07) the spool
    was `<that file>.chunks/<pid>.log`; the spool sweep still reads that layout
    (`logs.recovery`)."""
    with contextlib.suppress(OSError):
        if stat.S_ISREG(os.fstat(1).st_mode):
            return Path(f"{os.readlink('/proc/self/fd/1')}.{pid}{SPOOL_SUFFIX}")
    import tempfile

    return Path(tempfile.mkdtemp(prefix="brisa-log-")) / f"{pid}.log"


def in_own_folder(spool: Path) -> bool:
    """Whether the spool file has a folder of its own, removed with it once empty (the
    layout before the flat `.spool` file, and a temporary folder)."""
    return spool.suffix != SPOOL_SUFFIX


def attempt_file(spool: Path) -> Path:
    """Beside a spool file, the attempt its log belongs to (`[team, dag, run, task, try]` as
    JSON), written once it is known: what the spool sweep needs to finish the log of a worker
    that died (`recovery`)."""
    return spool.with_suffix(".attempt")


def partial_attempt_file(spool: Path) -> Path:
    """Where `attempt_file` was written before it was renamed into place (before 2026-12-07:
    the spool sweep still removes one left by an older worker)."""
    return spool.with_suffix(".attempt-partial")


def flush_python_streams(*, all_streams: bool = True) -> None:
    """Flush Python's stdout/stderr buffers (from another thread: the original ones only)."""
    streams: list[Any] = [sys.__stdout__, sys.__stderr__]
    if all_streams:
        streams += [sys.stdout, sys.stderr]
    for stream in streams:
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Spool:
    """The attempt's whole log on local disk, stamped and masked: what chunks are cut from.

    The spooler thread (Backlog) writes the attempt's output; the shipper thread reads it
    and adds notes. In a pod, `echo` also writes every byte to stdout (`logs.echo`).
    """

    def __init__(
        self,
        path: Path,
        masker: Masker,
        wall: Callable[[], float] = time.time,
        echo: Echo | None = None,
    ) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        try:
            self._fd = os.open(path, flags, 0o600)
        except FileNotFoundError:  # its folder (a spool of the older layout's, a test's)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, flags, 0o600)
        # Held while this file is written: the spool sweep leaves a locked spool alone
        # (`recovery.spool_held`); the lock goes with the descriptor (or the process).
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._masker = masker
        self._stamper = LineStamper()
        self._wall = wall
        self._echo = echo
        self._lock = threading.Lock()
        self._finished = False
        self._written: list[Path] = []  # the attempt file, once it is written
        self.size = 0

    def write(self, raw: bytes, wall: float | None = None) -> None:
        """Output of the attempt, read at `wall` (dropped after `finish`: a straggler)."""
        with self._lock:
            if not self._finished:
                stamped = self._stamper.feed(self._masker.feed(raw), wall or self._wall())
                self._append(stamped)

    def note(self, message: str) -> None:
        """A line of the worker's own, masked on its own."""
        with self._lock:
            masked = self._masker.mask(message.encode(errors="backslashreplace"))
            self._append(self._stamper.note(masked, self._wall()))

    def add_secrets(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._masker.add(secrets)

    def finish(self) -> None:
        """The output has ended: emit what was held back and end the last line."""
        with self._lock:
            if not self._finished:
                self._finished = True
                data = self._stamper.feed(self._masker.flush(), self._wall())
                self._append(data + self._stamper.end())

    def read(self, start: int, end: int) -> bytes:
        parts = []
        while start < end:
            data = os.pread(self._fd, end - start, start)
            if not data:
                break
            parts.append(data)
            start += len(data)
        return b"".join(parts)

    def record_attempt(self, attempt: tuple[str, str, str, str, int]) -> None:
        """Note beside the spool file which attempt this log belongs to (`attempt_file`).

        Written in place, once: a write the kill cut short is a JSON array without its `]`,
        which the spool sweep cannot read, as it could not read a missing file."""
        target = attempt_file(self.path)
        self._written = [target]
        with contextlib.suppress(OSError):  # the log is shipped all the same
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                write_all(fd, json.dumps(list(attempt)).encode())
            finally:
                os.close(fd)

    def close(self) -> None:
        os.close(self._fd)

    def discard(self) -> None:
        """Remove the spool file and its attempt file (and their folder, if it is theirs and
        empty): the log is in the store, or was handed to the executor's file."""
        self.close()
        for path in (self.path, *self._written):  # (no call for files never written)
            path.unlink(missing_ok=True)
        if in_own_folder(self.path):
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()

    def _append(self, data: bytes) -> None:
        if data:
            write_all(self._fd, data)
            if self._echo is not None:
                self._echo.write(self.size, data)
            self.size += len(data)


def redirect_output(write_end: int) -> tuple[int, int]:
    """Point fds 1 and 2 at `write_end` (so Python, C code and every child process write
    there); return copies of the original ones for `restore_output`."""
    flush_python_streams()
    saved = (os.dup(1), os.dup(2))
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    return saved


def restore_output(saved: tuple[int, int]) -> None:
    flush_python_streams()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)


def grow_pipe(fd: int) -> None:
    """A larger pipe buffer: fewer, larger reads, and a writer that blocks less often."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class Backlog:
    """What the reader took from the pipe, waiting to be masked and spooled by `run` (on
    its own thread). It is kept in memory only (unmasked bytes never touch the disk), and
    lets the reader empty the pipe at once: a task printing faster than the spool takes it
    is not slowed until `limit` bytes are waiting."""

    def __init__(self, spool: Spool, after: Callable[[], None], limit: int = 64 << 20) -> None:
        self._spool = spool
        self._after = after
        self._limit = limit
        self._items: deque[tuple[float, bytes]] = deque()
        self._size = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="log-spooler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, data: bytes) -> None:
        wall = time.time()
        with self._cond:
            while self._size > self._limit and not self._closed:
                self._cond.wait()
            self._items.append((wall, data))
            self._size += len(data)
            self._cond.notify_all()

    def close(self, timeout: float) -> None:
        """Spool what is waiting (within `timeout` s) and stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closed:
                    self._cond.wait()
                if not self._items:
                    return
                wall, data = self._items.popleft()
                self._size -= len(data)
                self._cond.notify_all()
            self._spool.write(data, wall)
            self._after()


class Reader:
    """Drains a pipe into `sink` on a thread until every writer has closed it."""

    def __init__(self, fd: int, sink: Callable[[bytes], None]) -> None:
        self._fd = fd
        self._sink = sink
        self._thread = threading.Thread(target=self._drain, name="log-reader", daemon=True)
        self._ending = threading.Event()
        self.lost = 0  # bytes the sink refused (e.g. a full disk): dropped, never blocking

    def start(self) -> None:
        self._thread.start()

    def ending(self) -> None:
        """The writers are closing the pipe: read on to its end without waiting for more."""
        self._ending.set()

    def join(self, timeout: float) -> bool:
        """False if the pipe is still open after `timeout` s (held by a process the attempt
        left behind: it is not waited for)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, READ_BYTES)
            except OSError:
                return
            if not data:
                os.close(self._fd)
                return
            try:
                self._sink(data)
            except Exception:  # noqa: BLE001 - keep draining, or the task would block on writes
                self.lost += len(data)
            if len(data) < BATCH_BYTES:
                self._ending.wait(BATCH_WAIT)
