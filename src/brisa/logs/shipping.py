"""Log shipping: everything an attempt writes reaches the object store in chunks while it
runs, so a killed worker loses at most the last chunk interval.

    logcapture: fds 1 and 2 -> pipe -> reader thread -> masked, stamped lines -> spool file
    shipper thread: every chunk_interval (or chunk_bytes) the unshipped bytes of the spool
    file -> <prefix>00000001.log, 00000002.log, ...; at the end full.log, then the chunks
    are deleted (logs.layout describes it).

The pure parts (Chunker, chunk_ranges, backoff) decide; Shipper and LogShipper do the I/O.
The local spool file is the source of truth: a chunk the store refused stays there and is
shipped, in order, once the store is back, with a line saying what was late. A log outage
never changes the task's outcome: the worker reports the outcome first, then finishes
shipping within a deadline.

Only the standard library is imported at start-up: the object store (obstore for s3://)
and logs.layout are loaded by the shipper thread, off the task's start-up path.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from brisa.logs.capture import (
    READ_BYTES,
    Backlog,
    Reader,
    Spool,
    flush_python_streams,
    grow_pipe,
    redirect_output,
    restore_output,
    utc_stamp,
    write_all,
)
from brisa.logs.masking import DEFAULT_ENV_PATTERN, Masker

if TYPE_CHECKING:
    from brisa.objectstore import ObjectStore

FIRST_BACKOFF = 0.5  # seconds before the first retry of a refused chunk ...
MAX_BACKOFF = 10.0  # ... doubling up to this
FLUSH_LEAD = 0.2  # Python's stdout buffer is flushed this long before a chunk is cut
ORPHAN_TIMEOUT = 10.0  # to ship the rest when the worker was killed without a word
_SECRET_S3_OPTIONS = ("secret_access_key", "session_token")


# NamedTuples and plain classes here, not dataclasses: this module is on the worker's start-up
# path, and each dataclass costs a millisecond to create.


class ShippingConfig(NamedTuple):
    """What the executor hands the worker for its log (BRISA_LOGS_* environment)."""

    location: str = ""
    chunk_interval: float = 5.0
    chunk_bytes: int = 1024 * 1024
    mask_env_pattern: str = DEFAULT_ENV_PATTERN
    store_options: Mapping[str, str] = MappingProxyType({})

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ShippingConfig:
        options = {
            name.removeprefix("BRISA_LOGS_S3_").lower(): value
            for name, value in environ.items()
            if name.startswith("BRISA_LOGS_S3_") and value
        }
        return cls(
            location=environ.get("BRISA_LOGS_LOCATION", ""),
            chunk_interval=float(environ.get("BRISA_LOGS_CHUNK_INTERVAL", "5")),
            chunk_bytes=int(environ.get("BRISA_LOGS_CHUNK_BYTES", str(1024 * 1024))),
            mask_env_pattern=environ.get("BRISA_LOGS_MASK_ENV_PATTERN", DEFAULT_ENV_PATTERN),
            store_options=options,
        )

    def secrets(self) -> list[str]:
        return [self.store_options[k] for k in _SECRET_S3_OPTIONS if self.store_options.get(k)]

    def open_store(self) -> ObjectStore:
        """The log store (obstore is imported here, for s3://, not at start-up)."""
        from brisa.objectstore import open_object_store

        return open_object_store(self.location, self.store_options)

    def redacted(self) -> dict[str, Any]:
        options = {
            k: "***" if k in _SECRET_S3_OPTIONS or k == "access_key_id" else v
            for k, v in self.store_options.items()
        }
        return {**self._asdict(), "store_options": options}


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


class _Outage:
    def __init__(self, since: float, reason: str, shipped_at_start: int) -> None:
        self.since = since
        self.reason = reason
        self.shipped_at_start = shipped_at_start
        self.failures = 0
        self.retry_at = 0.0


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Shipper:
    """Ships the spool as numbered chunks from its own thread, then `full.log` on close.

    A refused chunk stays in the spool and is retried with backoff; chunks keep their order
    because the next one is only cut from what follows the last shipped byte. The thread
    calls `tick` whenever something may be due and `finish` once closing; tests call them
    directly, with a fake clock.
    """

    def __init__(
        self,
        spool: Spool,
        config: ShippingConfig,
        *,
        open_store: Callable[[], ObjectStore],
        origin: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._spool = spool
        self._open_store = open_store
        self._clock, self._sleep, self._jitter = clock, sleep, jitter
        self._chunker = Chunker(config.chunk_interval, config.chunk_bytes, origin)
        self._cond = threading.Condition()
        self._attempt: tuple[str, str, str, str, int] | None = None
        self._prefix_key: str | None = None
        self._store: ObjectStore | None = None
        self._shipped = 0
        self._seq = 0
        self._outage: _Outage | None = None
        self._closing = False
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


class LogShipper:
    """The worker's side of log shipping.

    `start` forks the log process (before the worker starts any thread) and points fds 1
    and 2 at a pipe that process reads: masking, stamping, spooling and shipping then cost
    the task's process nothing but its writes (in one process they fought the task for the
    GIL: +60% wall time for a task printing 10 MB). Being a fork, the log process needs no
    start-up; it is not its session's leader, which is how the local executor tells it from
    the worker. The worker flushes Python's stdout buffer just before each chunk tick.
    """

    def __init__(
        self,
        config: ShippingConfig,
        path: Path,
        secrets: Iterable[str],
        *,
        open_store: Callable[[], ObjectStore] | None = None,
    ) -> None:
        self._config = config
        self._path = path
        self._secrets = list(secrets)
        self._open_store = open_store or config.open_store
        self._pid = 0
        self._control: socket.socket | None = None
        self._saved: tuple[int, int] | None = None
        self._stop_flushing = threading.Event()

    def start(self) -> LogShipper:
        flush_python_streams()
        read_end, write_end = os.pipe()
        grow_pipe(write_end)
        ours, theirs = socket.socketpair()
        origin = time.monotonic()
        # Objects that exist now are left alone by either process's garbage collector, so
        # the two share those pages instead of copying them.
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the log process: never returns
            os.close(write_end)
            ours.close()
            code = 70
            try:
                code = _log_process(self._spooled(origin), read_end, theirs)
            except BaseException:  # noqa: BLE001 - the worker's output must still flow
                traceback.print_exc()
                theirs.close()  # the worker waits for no answer
                _pass_through(read_end)
            finally:
                os._exit(code)
        os.close(read_end)
        theirs.close()
        self._pid, self._control = pid, ours
        self._saved = redirect_output(write_end)
        os.close(write_end)
        flusher = threading.Thread(target=self._flush_before_ticks, args=(origin,), daemon=True)
        flusher.start()
        return self

    def begin(self, attempt: tuple[str, str, str, str, int], secrets: Iterable[str]) -> None:
        """The attempt (team, dag, run, task, try) is known: mask `secrets` from now on and
        ship under its prefix. Returns once the log process has the secrets, so none of them
        can slip through."""
        self._send({"op": "begin", "attempt": attempt, "secrets": list(secrets)}, answer=True)

    def close(self, timeout: float, grace: float = 2.0) -> None:
        """Stop capturing; the log process waits up to `grace` s for the pipe to end, ships
        the rest and full.log within `timeout` s, and says what went wrong (in the executor's
        file for this worker). Returns when it is done: the executor kills what is left of
        the worker's process group once the worker exits."""
        if self._saved is None:
            return
        self._stop_flushing.set()
        restore_output(self._saved)
        self._saved = None
        self._send({"op": "close", "timeout": timeout, "grace": grace}, answer=False)
        assert self._control is not None
        with self._control, contextlib.suppress(OSError):
            self._control.settimeout(2 * grace + timeout + 1.0)
            self._control.recv(1)  # "done" (or nothing: it is gone); its exit is not waited for
            os.waitpid(self._pid, os.WNOHANG)

    def _spooled(self, origin: float) -> tuple[Spool, Shipper]:
        spool = Spool(self._path, Masker(self._secrets))
        shipper = Shipper(spool, self._config, open_store=self._open_store, origin=origin)
        return spool, shipper

    def _send(self, message: dict[str, Any], *, answer: bool) -> None:
        assert self._control is not None
        with contextlib.suppress(OSError):  # the log process is gone: nothing to tell
            self._control.settimeout(10.0)
            self._control.sendall(json.dumps(message).encode() + b"\n")
            if answer:
                self._control.recv(1)

    def _flush_before_ticks(self, origin: float) -> None:
        chunker = Chunker(self._config.chunk_interval, self._config.chunk_bytes, origin)
        while not self._stop_flushing.is_set():
            step = chunker.step(time.monotonic(), 0)
            if step.flush:
                flush_python_streams(all_streams=False)
            self._stop_flushing.wait(max(0.0, step.wake_at - time.monotonic()))


def _log_process(spooled: tuple[Spool, Shipper], read_end: int, control: socket.socket) -> int:
    """The forked log process: spool and ship until the worker says close (or is gone)."""
    for sig in (signal.SIGTERM, signal.SIGINT):  # the worker decides when to stop
        signal.signal(sig, signal.SIG_IGN)
    spool, shipper = spooled

    sys.setswitchinterval(0.001)  # the reader must get its turn quickly: the pipe is small
    backlog = Backlog(spool, shipper.poke)
    reader = Reader(read_end, backlog.put)
    shipper.start()
    backlog.start()
    reader.start()
    closing = _follow(control, spool, shipper)
    timeout, grace = closing or (ORPHAN_TIMEOUT, 2.0)  # None: ship what the worker left
    reader.ending()
    if not reader.join(grace):
        spool.note("brisa: a process the attempt left behind still holds its output")
    backlog.close(grace)
    if closing is None:
        spool.note("brisa: the worker process ended without closing its log (killed?)")
    if reader.lost:
        spool.note(f"brisa: {reader.lost} bytes of output could not be kept")
    spool.finish()
    problem = shipper.close(timeout)
    if not shipper.started:  # e.g. the start call failed: keep what was said with the executor
        write_all(1, spool.read(0, spool.size))
    if shipper.complete or not shipper.started:
        spool.discard()
    if problem:
        write_all(1, f"{utc_stamp(time.time())} brisa: {problem}\n".encode())
    with control, contextlib.suppress(OSError):
        control.sendall(b"d")  # done: the worker need not wait for this process's teardown
    return 0


def _follow(control: socket.socket, spool: Spool, shipper: Shipper) -> tuple[float, float] | None:
    """Obey the worker's messages until `close` (returns its timeout and grace), or until the
    worker is gone (None)."""
    with control.makefile("rb") as messages:
        for line in messages:
            message = json.loads(line)
            if message["op"] == "close":
                return float(message["timeout"]), float(message["grace"])
            spool.add_secrets(message["secrets"])
            control.sendall(b"k")  # the worker may go on: its secrets are masked
            attempt = tuple(message["attempt"])
            spool.record_attempt(attempt)  # so that the executor can finish the log if we die
            shipper.begin(attempt)
    return None


def _pass_through(read_end: int) -> None:
    """The log process could not start: the output goes, as it is, to the executor's file."""
    while data := os.read(read_end, READ_BYTES):
        write_all(1, data)
