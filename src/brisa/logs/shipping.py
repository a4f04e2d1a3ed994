"""Log shipping: everything an attempt writes reaches the object store in chunks while it
runs, so a killed worker loses at most the last chunk interval.

    logcapture: fds 1 and 2 -> pipe -> reader thread -> masked, stamped lines -> spool file
    shipper thread: every chunk_interval (or chunk_bytes) the unshipped bytes of the spool
    file -> <prefix>00000001.log, 00000002.log, ...; at the end full.log, then the chunks
    are deleted (logs.layout describes it).

This module is the worker's side: `LogShipper` forks the log process that captures, masks,
spools and ships. The pure decisions are in logs.chunking, the shipper thread in
logs.shipper, the configuration in logs.config. A log outage never changes the task's
outcome: the worker reports the outcome first, then finishes shipping within a deadline.

Only the standard library is imported at start-up: the object store (obstore for s3://)
and logs.layout are loaded by the shipper thread, off the task's start-up path.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
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
    Reader,
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
from brisa.logs.echo import Echo
from brisa.logs.masking import Masker
from brisa.logs.shipper import Shipper

if TYPE_CHECKING:
    from brisa.objectstore import ObjectStore

ORPHAN_TIMEOUT = 10.0  # to ship the rest when the worker was killed without a word


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
        # In a pod, the spool's bytes go to stdout too: what `pods/log` completes the log from.
        echo = Echo() if self._config.echo else None
        spool = Spool(self._path, Masker(self._secrets), echo=echo)
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
