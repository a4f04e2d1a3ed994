"""The log server's one thread: every attempt's pipe and connection, read by one `poll` loop
(ADR 0034), instead of three threads started per attempt (ADR 0025's reader, spooler and
shipper).

    channel (the fork server) --> a new connection per launch --> its opening (pipe, the
    executor's file, settings, secrets) --> an attempt: its pipe and its connection polled
    pipe --read--> `Drain` (the worker's messages first) --> spool (masked, stamped) inline
    chunk ticks, full.log --> the store threads (`StoreThreads`: a few long-lived threads,
    one call of an attempt at a time), back to the loop when done

What reaches the loop is what a log process did, in the same order: a secret named in
`begin` is masked in every byte read after it (`logs.drain`), the spool is written (and
locked) as the bytes are read, a worker gone without `close` gets `ORPHAN_TIMEOUT` to ship the
rest, the pipe is read to its end for `grace` seconds after `close` (then drained and dropped
by the loop), and the worker is answered `d` once full.log is written or its deadline passed.
The loop itself never waits for the store: a slow store delays only its own attempts' logs.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import select
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from brisa.logs.capture import BATCH_BYTES, BATCH_WAIT, READ_BYTES, Spool, utc_stamp, write_all
from brisa.logs.drain import Drain
from brisa.logs.shipper import Shipper

ORPHAN_TIMEOUT = 10.0  # to ship the rest when the worker was killed without a word
ORPHAN_GRACE = 2.0
MAX_OPENING = 1 << 20  # the opening message of an attempt: settings and secrets
OPENING_READ = 1 << 16  # read at a time (an opening is about 1 KB)
STORE_THREADS = 16  # store calls at once (threads are started when needed, then kept)
_IN = select.POLLIN
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL

# An opening turned into an attempt: its spool and shipper (`logs.shipping.spooled`), and
# whether its store is a local folder (its calls are then made by the loop itself).
Opened = Callable[[dict[str, Any]], tuple[Spool, Shipper, bool]]


class Attempt:
    """One worker's log while the loop serves it."""

    def __init__(
        self, conn: socket.socket, fd: int, out: int, spool: Spool, shipper: Shipper, local: bool
    ):
        self.conn = conn
        self.local = local  # a local folder's calls are made on the loop (no hand-off)
        self.fd: int | None = fd  # the pipe, until its end
        self.out = out  # the executor's file of the worker
        self.spool = spool
        self.shipper = shipper
        self.drain = Drain(fd, conn, spool, shipper, spool.write)
        self.listening = True  # the connection is still read (until close, or gone)
        self.resume_at = 0.0  # a small read pauses the pipe until then (batching)
        self.grace_until = float("inf")  # once the worker is done: the pipe's end by then
        self.dropping = False  # the pipe is held past its grace: read and dropped
        self.busy = False  # a store call of this attempt is running
        self.finishing = False  # full.log is being written (or written)
        self.deadline = float("inf")  # ... and must be by then
        self.answered = False  # the worker was told `d` (or the connection is closed)
        self.broken = False  # something went wrong: the output goes to the executor's file
        self.settled = False  # the spool is closed (removed, or left for the sweep)
        self.timeout = 0.0  # to write full.log in, once the output has ended
        self.timer = 0.0  # when something of this attempt is next due (`_retime`)


class StoreThreads:
    """The store calls of every attempt, on a few threads started when needed and then kept
    (none per attempt); the loop hears of each call's end through a pipe."""

    def __init__(self) -> None:
        # Imported here, in the log server: the fork server imports this module too, and every
        # worker is forked from its memory (or a warm process's copy of it).
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="log-store")
        self.done: collections.deque[tuple[Attempt, str | None]] = collections.deque()
        self.wake_read, self._wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)

    def run(self, attempt: Attempt, call: Callable[[], str | None]) -> None:
        attempt.busy = True
        self._pool.submit(self._call, attempt, call)

    def _call(self, attempt: Attempt, call: Callable[[], str | None]) -> None:
        self.done.append((attempt, _problem(call)))
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b".")

    def close(self) -> None:
        """Every attempt is answered: a call still running is past its deadline (its spool,
        still locked, goes to the sweep when this process exits)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        os.close(self.wake_read)
        os.close(self._wake_write)


class Loop:
    """Serves every connection received on `channel` until the fork server is gone and every
    attempt has shipped."""

    def __init__(
        self,
        channel: socket.socket,
        opened: Opened,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel: socket.socket | None = channel
        self._opened = opened
        self._clock = clock
        self._poll = select.poll()
        self._handlers: dict[int, Callable[[int], None]] = {}
        self._openings: dict[int, tuple[socket.socket, bytearray, list[int]]] = {}
        self._attempts: set[Attempt] = set()
        self._store = StoreThreads()
        self._watch(channel.fileno(), self._accept)
        self._watch(self._store.wake_read, self._stored)

    def run(self) -> None:
        while self._channel is not None or self._openings or self._serving():
            now = self._clock()
            wake = self._due(now)
            timeout = -1 if wake == float("inf") else max(0, round((wake - now) * 1000 + 0.5))
            for fd, events in self._poll.poll(timeout):
                handler = self._handlers.get(fd)
                if handler is not None:
                    handler(events)
        self._store.close()

    def _serving(self) -> bool:
        """An attempt is not answered yet (a pipe held by what an attempt left behind, read
        and dropped, does not keep the server)."""
        return any(not attempt.answered for attempt in self._attempts)

    def _watch(self, fd: int, handler: Callable[[int], None]) -> None:
        self._handlers[fd] = handler
        self._poll.register(fd, _IN)

    def _unwatch(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            self._poll.unregister(fd)

    # --- new connections and their openings

    def _accept(self, events: int) -> None:
        assert self._channel is not None
        try:
            message, fds, _, _ = socket.recv_fds(self._channel, 16, 1)
        except OSError:
            message, fds = b"", []
        if not message:  # the fork server is gone
            self._unwatch(self._channel.fileno())
            self._channel.close()
            self._channel = None
        for fd in fds:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=fd)  # no queries
            self._openings[fd] = (conn, bytearray(), [])
            self._watch(fd, functools.partial(self._opening, fd))

    def _opening(self, key: int, events: int) -> None:
        """More of a worker's first message (one JSON line, with its two descriptors)."""
        conn, data, fds = self._openings[key]
        try:
            more, got, _, _ = socket.recv_fds(conn, OPENING_READ, 2, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            more, got = b"", []
        fds += got
        data += more
        line_end = data.find(b"\n")
        if more and line_end < 0 and len(data) < MAX_OPENING:
            return  # not complete yet
        self._unwatch(key)
        del self._openings[key]
        attempt = None
        if line_end >= 0 and len(fds) == 2:
            attempt = self._start(conn, bytes(data[:line_end]), fds[0], fds[1])
        if attempt is None:  # the worker takes its output back (connection closed)
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        attempt.drain.queue(bytes(data[line_end + 1 :]))  # `begin`, sent right after
        self._attempts.add(attempt)
        self._watch(conn.fileno(), lambda events: self._control(attempt))
        self._watch(fds[0], lambda events: self._pipe(attempt))
        if attempt.drain.ended:
            self._guarded(attempt, lambda: self._worker_done(attempt))
        _retime(attempt)

    def _start(self, conn: socket.socket, line: bytes, fd: int, out: int) -> Attempt | None:
        try:
            spool, shipper, local = self._opened(json.loads(line))
        except Exception:  # noqa: BLE001 - refused: the worker takes its output back
            return None
        attempt = Attempt(conn, fd, out, spool, shipper, local)
        shipper.tick(self._clock())  # when the first chunk is due (nothing to ship yet)
        return attempt

    # --- an attempt's connection and pipe

    def _control(self, attempt: Attempt) -> None:
        self._guarded(attempt, lambda: attempt.drain.take_messages() and self._worker_done(attempt))

    def _pipe(self, attempt: Attempt) -> None:
        self._guarded(attempt, lambda: self._read(attempt))

    def _read(self, attempt: Attempt) -> None:
        fd = attempt.fd
        assert fd is not None
        if attempt.dropping:
            try:
                size = len(os.read(fd, READ_BYTES))
            except OSError:
                size = 0
            if not size:
                os.close(fd)
        else:
            size = attempt.drain.read_pipe()  # messages first, then masked and spooled
        if not size:
            self._unwatch(fd)
            attempt.fd = None
            if attempt.answered:
                self._attempts.discard(attempt)
        elif attempt.drain.ended and attempt.listening:
            self._worker_done(attempt)
        elif size < BATCH_BYTES and attempt.listening:
            # Output written line by line is read in batches, not one call per line.
            self._poll.unregister(fd)
            attempt.resume_at = self._clock() + BATCH_WAIT
        self._step(attempt)

    def _worker_done(self, attempt: Attempt) -> bool:
        """The worker said close (its timeout and grace) or is gone: read the pipe to its end
        for `grace` seconds, then ship the rest."""
        if attempt.listening:
            attempt.listening = False
            self._unwatch(attempt.conn.fileno())
            grace = attempt.drain.closing[1] if attempt.drain.closing else ORPHAN_GRACE
            attempt.grace_until = self._clock() + grace
            self._resume(attempt)
            self._step(attempt)
        return True

    def _resume(self, attempt: Attempt) -> None:
        if attempt.resume_at and attempt.fd is not None:
            self._poll.register(attempt.fd, _IN)
        attempt.resume_at = 0.0

    def _guarded(self, attempt: Attempt, step: Callable[[], object]) -> None:
        """A step of one attempt; what goes wrong there ends that attempt's log only (its
        output then goes, as it is, to the executor's file), never the loop."""
        if attempt.broken:
            return
        try:
            step()
            _retime(attempt)
        except Exception:  # noqa: BLE001 - the other attempts' logs must still flow
            self._broken(attempt)

    def _broken(self, attempt: Attempt) -> None:
        """Once answered, the worker's file and the spool are closed already: what is left
        is a pipe held by what the attempt left behind, read and dropped on a thread."""
        attempt.broken = True
        self._attempts.discard(attempt)
        with contextlib.suppress(OSError):
            self._unwatch(attempt.conn.fileno())
        out = None
        if not attempt.answered:
            attempt.answered = True
            with contextlib.suppress(OSError):
                os.write(attempt.out, traceback.format_exc().encode())
            out = os.dup(attempt.out) if attempt.fd is not None else None
            os.close(attempt.out)
        if attempt.fd is not None:
            self._unwatch(attempt.fd)
            fd, attempt.fd = attempt.fd, None
            threading.Thread(target=_pass_through, args=(fd, out), daemon=True).start()
        attempt.conn.close()
        if not attempt.settled:
            attempt.settled = True
            with contextlib.suppress(OSError):
                attempt.spool.close()  # left for the spool sweep

    # --- timers, the store, the end

    def _due(self, now: float) -> float:
        """Act on what is due at `now`; when the next thing is due."""
        wake = float("inf")
        for attempt in list(self._attempts):
            if now >= attempt.timer:
                self._guarded(attempt, functools.partial(self._timers, attempt, now))
            wake = min(wake, attempt.timer)
        return wake

    def _timers(self, attempt: Attempt, now: float) -> None:
        if attempt.resume_at and now >= attempt.resume_at:
            self._resume(attempt)
        held = attempt.fd is not None and not attempt.listening and not attempt.dropping
        if held and now >= attempt.grace_until:
            attempt.dropping = True
            attempt.spool.note("brisa: a process the attempt left behind still holds its output")
            self._resume(attempt)
        self._step(attempt, now)
        if attempt.finishing and not attempt.answered and now >= attempt.deadline:
            problem = f"the log store did not answer within {attempt.timeout:.0f}s; "
            self._answer(attempt, problem + f"the whole log is kept in {attempt.spool.path}")

    def _step(self, attempt: Attempt, now: float | None = None) -> None:
        """Hand the store what is due: a chunk, or (once the output has ended) full.log."""
        if attempt.busy or attempt.finishing:
            return
        now = self._clock() if now is None else now
        if attempt.listening or (attempt.fd is not None and not attempt.dropping):
            if attempt.shipper.due(now):
                self._call(attempt, lambda: attempt.shipper.tick(now))
            else:
                attempt.shipper.tick(now)  # only when next (no store call: nothing is due)
            return
        drain, spool = attempt.drain, attempt.spool
        if drain.closing is None:
            spool.note("brisa: the worker process ended without closing its log (killed?)")
        if drain.lost:
            spool.note(f"brisa: {drain.lost} bytes of output could not be kept")
        spool.finish()
        timeout = drain.closing[0] if drain.closing else ORPHAN_TIMEOUT
        attempt.finishing = True
        attempt.timeout = timeout
        attempt.deadline = now + timeout + 1.0
        self._call(attempt, lambda: attempt.shipper.finish_within(timeout))

    def _call(self, attempt: Attempt, call: Callable[[], str | None]) -> None:
        """A store call: made here for a local folder (a few file calls, like the spool's),
        else on the store threads."""
        if not attempt.local:
            self._store.run(attempt, call)
            return
        attempt.busy = True
        self._called(attempt, _problem(call))

    def _stored(self, events: int) -> None:
        with contextlib.suppress(OSError):
            os.read(self._store.wake_read, 4096)
        while self._store.done:
            self._called(*self._store.done.popleft())

    def _called(self, attempt: Attempt, problem: str | None) -> None:
        attempt.busy = False
        if attempt.finishing:
            self._guarded(attempt, functools.partial(self._settle, attempt, problem))
        else:
            self._guarded(attempt, functools.partial(self._step, attempt))

    def _settle(self, attempt: Attempt, problem: str | None) -> None:
        """full.log is written (or could not be): the spool goes, or stays for the sweep."""
        shipper, spool = attempt.shipper, attempt.spool
        if not attempt.answered and not shipper.started:
            # The start call failed: keep what was said with the executor.
            write_all(attempt.out, spool.read(0, spool.size))
        attempt.settled = True
        if shipper.complete or not shipper.started:
            spool.discard()
        else:
            spool.close()  # left for the spool sweep (its lock goes with the descriptor)
        if not attempt.answered:
            self._answer(attempt, problem)

    def _answer(self, attempt: Attempt, problem: str | None) -> None:
        attempt.answered = True
        if problem:
            with contextlib.suppress(OSError):
                write_all(attempt.out, f"{utc_stamp(time.time())} brisa: {problem}\n".encode())
        with attempt.conn, contextlib.suppress(OSError):
            attempt.conn.sendall(b"d")  # done: the worker need not wait any longer
        os.close(attempt.out)
        if attempt.fd is None:
            self._attempts.discard(attempt)


def _problem(call: Callable[[], str | None]) -> str | None:
    """What went wrong in a store call (the shipper says it; this catches the rest)."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - a log outage must never reach the task
        return f"the log could not be shipped ({exc})"


def _retime(attempt: Attempt) -> None:
    """When something of `attempt` is next due."""
    times = [float("inf")]
    if attempt.resume_at:
        times.append(attempt.resume_at)
    if attempt.fd is not None and not attempt.listening and not attempt.dropping:
        times.append(attempt.grace_until)
    if attempt.finishing and not attempt.answered:
        times.append(attempt.deadline)
    if not attempt.busy and not attempt.finishing:
        times.append(attempt.shipper.wake_at)
    attempt.timer = min(times)


def _pass_through(read_end: int, out: int | None) -> None:
    """An attempt the loop could not serve: its output goes, as it is, to the executor's file
    (`out`; None: dropped, the attempt's log has ended)."""
    with contextlib.suppress(OSError):
        while data := os.read(read_end, READ_BYTES):
            if out is not None:
                write_all(out, data)
    os.close(read_end)
    if out is not None:
        os.close(out)
