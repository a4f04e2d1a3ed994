"""Log shipping: everything an attempt writes reaches the object store in chunks while it
runs, so a killed worker loses at most the last chunk interval.

    logcapture: fds 1 and 2 -> pipe -> reader thread -> masked, stamped lines -> spool file
    shipper thread: every chunk_interval (or chunk_bytes) the unshipped bytes of the spool
    file -> <prefix>00000001.log, 00000002.log, ...; at the end full.log, then the chunks
    are deleted (logs.layout describes it).

This module is the worker's side: `LogShipper` hands its output to the fork server's shared
log server (`logs.server`, ADR 0025) when it was given a connection to one, else forks a log
process of its own; either captures, masks, spools and ships it the same way (a log
process with `ship_attempt`'s threads, the log server from its one loop, `logs.loop`). The
pure decisions are in logs.chunking, the shipper in logs.shipper, the configuration in
logs.config. A log outage never changes the task's
outcome: the worker reports the outcome first, then finishes shipping within a deadline.

Only the standard library is imported at start-up: the object store (obstore for s3://)
and logs.layout are loaded by the shipper thread, off the task's start-up path.
"""

from __future__ import annotations

import _thread
import contextlib
import gc
import json
import math
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brisa.logs.capture import (
    READ_BYTES,
    Backlog,
    Spool,
    flush_python_streams,
    grow_pipe,
    redirect_output,
    restore_output,
    utc_stamp,
    write_all,
)
from brisa.logs.chunking import Chunker
from brisa.logs.config import ShippingConfig
from brisa.logs.drain import Drain
from brisa.logs.echo import Echo
from brisa.logs.masking import Masker
from brisa.logs.shipper import Shipper

if TYPE_CHECKING:
    from brisa.objectstore import ObjectStore

ORPHAN_TIMEOUT = 10.0  # to ship the rest when the worker was killed without a word
JOIN_TIMEOUT = 10.0  # how long handing the output to the log server may block a worker


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
        server: socket.socket | None = None,
        ticker: Callable[[float], float | None] | None = None,
    ) -> None:
        self._config = config
        # Called on the flushing thread at the times it asks for (`worker.heartbeat`): first
        # in `start`, last with `inf` when that thread stops.
        self._ticker = ticker
        self._server = server  # a connection to the shared log server (logs.server), if any
        self._path = path
        self._secrets = list(secrets)
        self._open_store = open_store or config.open_store
        self._pid = 0
        self._control: socket.socket | None = None
        self._saved: tuple[int, int] | None = None
        self._saving = threading.RLock()  # RLock: `close` may run in a signal handler
        self._spare: int | None = None  # with the log server: our copy of the pipe's read end
        self._stop_flushing = threading.Event()

    def start(self) -> LogShipper:
        flush_python_streams()
        origin = time.monotonic()
        if self._server is not None and self._join_server(origin):
            return self
        read_end, write_end = os.pipe()
        grow_pipe(write_end)
        ours, theirs = socket.socketpair()
        # Objects that exist now are left alone by either process's garbage collector, so
        # the two share those pages instead of copying them.
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the log process: never returns
            os.close(write_end)
            ours.close()
            code = 70
            try:
                code = _log_process(
                    spooled(self._config, self._path, self._secrets, self._open_store, origin),
                    read_end,
                    theirs,
                )
            except BaseException:  # noqa: BLE001 - the worker's output must still flow
                traceback.print_exc()
                theirs.close()  # the worker waits for no answer
                pass_through(read_end)
            finally:
                os._exit(code)
        os.close(read_end)
        theirs.close()
        self._pid, self._control = pid, ours
        self._capture(write_end, origin)
        return self

    def _join_server(self, origin: float) -> bool:
        """Hand this worker's output to the log server: the read end of a new pipe and the
        executor's file (fd 1 now) go over the connection with the log's path, settings and
        secrets. No answer is waited for (the attempt's start is not delayed by the server's
        turn): a server that refuses or dies closes the connection, and `_server_gone` takes
        over. False (the connection closed) when the server cannot be reached at all."""
        conn, self._server = self._server, None
        assert conn is not None
        read_end, write_end = os.pipe()
        grow_pipe(write_end)
        opening = {
            "path": str(self._path),
            "config": {**self._config._asdict(), "store_options": dict(self._config.store_options)},
            "secrets": self._secrets,
            "origin": origin,
        }
        try:
            conn.settimeout(JOIN_TIMEOUT)
            socket.send_fds(conn, [json.dumps(opening).encode() + b"\n"], [read_end, 1])
        except OSError:
            conn.close()
            os.close(read_end)
            os.close(write_end)
            return False
        # Kept, never read while the server lives: if it dies, writes do not fail (EPIPE)
        # and what waits in the pipe goes to the executor's file (`_server_gone`).
        self._spare = read_end
        self._control = conn
        self._capture(write_end, origin)
        return True

    def _capture(self, write_end: int, origin: float) -> None:
        self._saved = redirect_output(write_end)
        os.close(write_end)
        due = self._ticker(time.monotonic()) if self._ticker is not None else None
        # Started without waiting for it to run (`Thread.start` would): the attempt's start
        # is not delayed by the scheduler's turn for this thread.
        _thread.start_new_thread(self._flush_before_ticks, (origin, due))

    def begin(self, attempt: tuple[str, str, str, str, int], secrets: Iterable[str]) -> None:
        """The attempt (team, dag, run, task, try) is known: mask `secrets` from now on and
        ship under its prefix. No answer is waited for: the log process reads this message
        before any output written after it (`logs.drain`), so none of them slips through."""
        self._send({"op": "begin", "attempt": attempt, "secrets": list(secrets)})

    def close(self, timeout: float, grace: float = 2.0) -> None:
        """Stop capturing; the log process waits up to `grace` s for the pipe to end, ships
        the rest and full.log within `timeout` s, and says what went wrong (in the executor's
        file for this worker). Returns when it is done: the executor kills what is left of
        the worker's process group once the worker exits."""
        with self._saving:
            saved, self._saved = self._saved, None
            if saved is None:
                return  # not capturing, or the log server is gone (`_server_gone`)
            self._stop_flushing.set()
            restore_output(saved)
            if self._spare is not None:
                os.close(self._spare)
                self._spare = None
        self._send({"op": "close", "timeout": timeout, "grace": grace})
        assert self._control is not None
        with self._control, contextlib.suppress(OSError):
            self._control.settimeout(2 * grace + timeout + 1.0)
            self._control.recv(1)  # "done" (or nothing: it is gone); its exit is not waited for
            if self._pid:
                os.waitpid(self._pid, os.WNOHANG)

    def _send(self, message: dict[str, Any]) -> None:
        assert self._control is not None
        with contextlib.suppress(OSError):  # the log process is gone: nothing to tell
            self._control.settimeout(10.0)
            self._control.sendall(json.dumps(message).encode() + b"\n")

    def _flush_before_ticks(self, origin: float, due: float | None) -> None:
        """Flush Python's buffer before each chunk tick; with the log server, also notice at
        once that it is gone (its end of the connection closed). Call the ticker when it
        asked to be called (`due`), and one last time when this stops."""
        chunker = Chunker(self._config.chunk_interval, self._config.chunk_bytes, origin)
        watch = None
        if self._spare is not None and self._control is not None:
            watch = select.poll()
            watch.register(self._control, select.POLLRDHUP)
        while not self._stop_flushing.is_set():
            now = time.monotonic()
            if due is not None and now >= due and self._ticker is not None:
                due = self._ticker(now)
            step = chunker.step(now, 0)
            if step.flush:
                flush_python_streams(all_streams=False)
            wake_at = step.wake_at if due is None else min(step.wake_at, due)
            wait = max(0.0, wake_at - time.monotonic())
            if watch is None:
                self._stop_flushing.wait(wait)
            elif watch.poll(wait * 1000) and not self._stop_flushing.is_set():
                self._last_tick()
                self._server_gone()
                return
        self._last_tick()

    def _last_tick(self) -> None:
        if self._ticker is not None:
            self._ticker(math.inf)

    def _server_gone(self) -> None:
        """The log server died (ADR 0025): from now on the output goes to the executor's file,
        with what was waiting in the pipe; the spool sweep ships what the spool holds once
        this worker is gone."""
        with self._saving:
            saved, self._saved = self._saved, None
            spare, self._spare = self._spare, None
            if saved is None or spare is None:
                return
            restore_output(saved)
        note = f"{utc_stamp(time.time())} brisa: the log server is gone; the rest of this "
        note += "attempt's output is in this file\n"
        write_all(1, note.encode())
        with contextlib.suppress(OSError):
            pass_through(spare)  # until every writer (the task's children too) is gone
        os.close(spare)


def spooled(
    config: ShippingConfig,
    path: Path,
    secrets: Iterable[str],
    open_store: Callable[[], ObjectStore],
    origin: float,
) -> tuple[Spool, Shipper]:
    """The spool file of an attempt's log (masked with `secrets`) and its shipper."""
    # In a pod, the spool's bytes go to stdout too: what `pods/log` completes the log from.
    echo = Echo() if config.echo else None
    spool = Spool(path, Masker(secrets), echo=echo)
    shipper = Shipper(spool, config, open_store=open_store, origin=origin)
    return spool, shipper


def _log_process(spooled: tuple[Spool, Shipper], read_end: int, control: socket.socket) -> int:
    """The forked log process: spool and ship until the worker says close (or is gone)."""
    for sig in (signal.SIGTERM, signal.SIGINT):  # the worker decides when to stop
        signal.signal(sig, signal.SIG_IGN)
    sys.setswitchinterval(0.001)  # the reader must get its turn quickly: the pipe is small
    return ship_attempt(spooled, read_end, control, out=1)


def ship_attempt(
    spooled: tuple[Spool, Shipper], read_end: int, control: socket.socket, out: int
) -> int:
    """Spool and ship one attempt's output (read from `read_end`) until its worker says close
    on `control` (or is gone); what cannot go to the store goes to `out`, the executor's file
    of the worker. This thread reads the pipe and the worker's messages (`logs.drain`); a
    spooler and a shipper thread do the rest."""
    spool, shipper = spooled
    backlog = Backlog(spool, shipper.poke)
    drain = Drain(read_end, control, spool, shipper, backlog.put)
    shipper.start()
    backlog.start()
    closing = drain.follow()
    timeout, grace = closing or (ORPHAN_TIMEOUT, 2.0)  # None: ship what the worker left
    if not drain.finish(grace):
        spool.note("brisa: a process the attempt left behind still holds its output")
    backlog.close(grace)
    if closing is None:
        spool.note("brisa: the worker process ended without closing its log (killed?)")
    if drain.lost:
        spool.note(f"brisa: {drain.lost} bytes of output could not be kept")
    spool.finish()
    problem = shipper.close(timeout)
    if not shipper.started:  # e.g. the start call failed: keep what was said with the executor
        write_all(out, spool.read(0, spool.size))
    if shipper.complete or not shipper.started:
        spool.discard()
    else:
        spool.close()  # left for the spool sweep (its lock goes with the descriptor)
    if problem:
        write_all(out, f"{utc_stamp(time.time())} brisa: {problem}\n".encode())
    with control, contextlib.suppress(OSError):
        control.sendall(b"d")  # done: the worker need not wait for this process's teardown
    return 0


def pass_through(read_end: int, out: int = 1) -> None:
    """The log process could not start: the output goes, as it is, to the executor's file."""
    while data := os.read(read_end, READ_BYTES):
        write_all(out, data)
