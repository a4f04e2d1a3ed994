"""Task logs from the `pods/log` subresource, into the object store with the existing log
shipping (`logs.shipper`, `logs.layout`): chunks while the pod runs, `full.log` at the end.

- A container task's image has no Brisa inside: `ContainerLog` follows its container's
  output while it runs and ships it, byte for byte, as the attempt's log, readable live
  through the log API. A restarted executor resumes after what the store holds.
- A worker pod ships its own log, and echoes it to its stdout in frames (`logs.echo`); one
  that died before its last chunk is completed from those frames in the pod's log while the
  pod still exists (`complete_worker_log`), the counterpart of the local executor's spool
  sweep (`logs.recovery`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from brisa.executor.kubernetes.api import KubeApi, NotFound
from brisa.logs import echo, layout
from brisa.logs.capture import utc_stamp
from brisa.logs.config import ShippingConfig
from brisa.logs.recovery import completion, tail_chunks
from brisa.logs.shipper import Shipper
from brisa.objectstore import ObjectStore

log = logging.getLogger("brisa.kubernetes")

Attempt = tuple[str, str, str, str, int]  # team, dag, run, task, try
WHOLE, GONE = "", "the pod is gone"  # how a followed stream ended (else: the error)
CLOSE_TIMEOUT = 30.0
REOPEN_AFTER = 0.2  # seconds before a followed stream that ended is opened again
SETTLE_POLL = 0.01  # seconds between two looks for the pod's end after its stream ended
FINAL_READ_TIMEOUT = 30.0  # seconds an ended pod's log may fail to be read before it is closed
RETRY_AFTER = 30.0  # seconds before a worker's log that could not be completed is tried again
GIVE_UP_AFTER = 600.0  # ... and after which its pod goes all the same (e.g. its node is lost)


class RawSpool:
    """A container's output as it came, in a local file: what `Shipper` cuts chunks from."""

    def __init__(self, path: Path, prefill: bytes = b"") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._lock = threading.Lock()
        self.size = 0
        if prefill:
            self.write(prefill)

    def write(self, data: bytes) -> None:
        with self._lock:
            os.write(self._fd, data)
            self.size += len(data)

    def note(self, message: str) -> None:
        self.write(f"{utc_stamp(time.time())} {message}\n".encode())

    def read(self, start: int, end: int) -> bytes:
        return os.pread(self._fd, end - start, start)

    def discard(self) -> None:
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


class ContainerLog:
    """Follows one container task's output (`pods/log?follow=true`) from a thread and ships
    it as the attempt's log. `finished()` says whether the pod has ended (or is gone).

    The log is whole once a stream opened after the pod had ended has been read to its end:
    a stream that ends (cut, or at the container's exit, which the pod's status shows a
    little later) is opened again, skipping what was already read, until then. A stream that
    ends without error is almost always the container's exit: the pod's end is awaited
    closely (`SETTLE_POLL`) so that `full.log` lands as soon as the outcome does. The pod
    gone (its log with it), or its log unreadable for `FINAL_READ_TIMEOUT` seconds after its
    end, ends the log with what was read."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        pod: str,
        container: str,
        attempt: Attempt,
        config: ShippingConfig,
        folder: Path,
        *,
        finished: Callable[[], bool],
        open_store: Callable[[], ObjectStore] | None = None,
    ) -> None:
        self.api, self.namespace, self.pod, self.container = api, namespace, pod, container
        self.attempt, self.config, self.folder = attempt, config, folder
        self.finished = finished
        self._open_store = open_store or config.open_store
        self.done = threading.Event()
        self._abandoned = threading.Event()
        self._shipper: Shipper | None = None
        self._thread = threading.Thread(target=self._run, name=f"log-{pod}", daemon=True)

    def start(self) -> ContainerLog:
        self._thread.start()
        return self

    def abandon(self) -> None:
        """Stop following and shipping, leaving the log unfinished: the new holder of the
        namespace's lease follows it on from what the store holds (ADR 0028)."""
        self._abandoned.set()
        shipper = self._shipper
        if shipper is not None:
            shipper.abandon()  # at once: no chunk is cut after this

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    def _run(self) -> None:
        try:
            self._follow()
        except Exception:  # the log must never stop the executor
            log.exception("shipping the log of pod %s failed", self.pod)
        finally:
            self.done.set()

    def _follow(self) -> None:
        store = self._open_store()
        prefix = layout.attempt_prefix(*self.attempt)
        done = completion(prefix, store.list(prefix))
        if done is None:
            return  # full.log is there: shipped by an executor before a restart
        held = layout.read(store, prefix, 0, done.shipped + 1)[0] if done.shipped else b""
        spool = RawSpool(self.folder / f"{self.pod}.log", held)
        shipper = Shipper(
            spool,
            self.config,
            open_store=lambda: store,
            origin=time.monotonic(),
            resume=(len(held), done.last),
        )
        self._shipper = shipper
        if self.abandoned:
            spool.discard()
            return
        shipper.begin(self.attempt)
        shipper.start()
        if not self._read_to_end(spool, shipper, len(held)):
            shipper.abandon()  # what was shipped stays; the rest is the next holder's
            spool.discard()
            return
        problem = shipper.close(CLOSE_TIMEOUT)
        if problem:
            log.warning("the log of pod %s: %s", self.pod, problem)
        if shipper.complete:
            spool.discard()

    def _read_to_end(self, spool: RawSpool, shipper: Shipper, read: int) -> bool:
        """Follow the output into the spool (which holds `read` bytes of it) until it is all
        there, or cannot be read any more; False when abandoned meanwhile."""
        ended_at: float | None = None  # when the pod was first seen ended (monotonic)
        while True:
            if ended_at is None and self.finished():
                ended_at = time.monotonic()
            read, outcome = self._stream(spool, shipper, read)
            if self.abandoned:
                return False
            if outcome == GONE or (outcome == WHOLE and ended_at is not None):
                return True  # read to its end once the pod had ended, or gone with its log
            if ended_at is not None and time.monotonic() - ended_at >= FINAL_READ_TIMEOUT:
                spool.note(f"brisa: the container's log could not be read to its end ({outcome})")
                shipper.poke()
                return True
            if outcome == WHOLE:
                self._settle()  # most likely the container's exit: its pod's status follows
            else:
                time.sleep(REOPEN_AFTER)  # cut (an API blip): open it again

    def _settle(self) -> None:
        """Wait up to REOPEN_AFTER seconds for the pod to show its end."""
        deadline = time.monotonic() + REOPEN_AFTER
        while not self.finished() and not self.abandoned and time.monotonic() < deadline:
            time.sleep(SETTLE_POLL)

    def _stream(self, spool: RawSpool, shipper: Shipper, read: int) -> tuple[int, str]:
        """One stream of the container's output from its start, what `read` holds skipped:
        the bytes read in all, and how it ended (WHOLE: without error; GONE: the pod is
        not found; otherwise the error)."""
        skip = read
        try:
            for data in self.api.pod_log(self.namespace, self.pod, self.container, follow=True):
                if skip:
                    cut = min(skip, len(data))
                    data, skip = data[cut:], skip - cut
                if self.abandoned:
                    break
                if data:
                    spool.write(data)
                    read += len(data)
                    shipper.poke()
        except NotFound:
            return read, GONE
        except Exception as exc:  # noqa: BLE001 - any failure is a cut: the stream is opened again
            return read, str(exc) or type(exc).__name__
        return read, WHOLE


def closing_note(recovered: int, line_open: bool, wall: float, pod: str) -> bytes:
    """The last line of a worker pod's log completed by the executor (on a line of its own)."""
    if recovered:
        text = f"the executor shipped the last {recovered} bytes from the pod's log ({pod})"
    else:
        text = f"the pod's log ({pod}) held none of what was missing"
    line = f"{utc_stamp(wall)} brisa: the worker's pod ended before its log was complete; {text}"
    return (b"\n" if line_open else b"") + line.encode() + b"\n"


def complete_worker_log(
    store: ObjectStore, prefix: str, pod_log: bytes, chunk_bytes: int, *, pod: str
) -> int | None:
    """Finish the log of a worker pod that ended without `full.log`, from its pod's log: the
    bytes the store lacks (the worker's frames from the end of what it holds on, `logs.echo`)
    as the next chunks, a closing line, then full.log. Returns the bytes recovered (None: the
    log was complete)."""
    done = completion(prefix, store.list(prefix))
    if done is None:
        return None
    held = layout.read(store, prefix, 0, done.shipped + 1)[0] if done.shipped else b""
    tail = echo.tail_from(pod_log, len(held))
    data = held + tail
    pieces = tail_chunks(done, len(data), chunk_bytes)
    for number, start, end in pieces:
        store.put(layout.chunk_key(prefix, number), data[start:end])
    line_open = bool(data) and not data.endswith(b"\n")
    note = closing_note(len(tail), line_open, time.time(), pod)
    last = (pieces[-1][0] if pieces else done.last) + 1
    store.put(layout.chunk_key(prefix, last), note)
    store.put(prefix + layout.FULL, data + note)
    with contextlib.suppress(Exception):  # readers prefer full.log anyway
        store.delete([layout.chunk_key(prefix, n) for n in range(1, last + 1)])
    return len(tail)


class WorkerLogJob:
    """Completes the log of one ended worker pod on a thread (`run`: `complete_worker_log`
    and the reads it needs). The pod may go once the job has `settled`: the log is whole, or
    the pod is gone (NotFound) and its log with it. A failure (the log store unavailable) is
    tried again `retry_after` seconds later, the pod kept meanwhile: it holds the log; after
    `give_up_after` seconds of failures (its node is lost: no `pods/log`), the pod may go."""

    def __init__(
        self,
        run: Callable[[], None],
        *,
        name: str,
        clock: Callable[[], float] = time.monotonic,
        retry_after: float = RETRY_AFTER,
        give_up_after: float = GIVE_UP_AFTER,
    ) -> None:
        self._run, self.name = run, name
        self._clock, self._retry_after = clock, retry_after
        self._give_up_at = clock() + give_up_after
        self.settled = False
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Whether the pod may go; starts the job (again, once a failure's wait is over)."""
        if self.settled:
            return True
        if (self._thread is None or not self._thread.is_alive()) and (
            self._clock() >= self._retry_at
        ):
            self._thread = threading.Thread(target=self._attempt, daemon=True)
            self._thread.start()
        return False

    def wait(self, timeout: float) -> None:
        """Wait for the running try, if any (for tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _attempt(self) -> None:
        try:
            self._run()
        except NotFound:
            pass  # the pod is gone: nothing more to read
        except Exception as exc:  # noqa: BLE001 - the pod is kept; tried again later
            if self._clock() < self._give_up_at:
                log.warning(
                    "could not complete the log of pod %s (%s); trying again in %.0fs",
                    self.name, exc, self._retry_after,
                )  # fmt: skip
                self._retry_at = self._clock() + self._retry_after
                return
            log.warning("gave up completing the log of pod %s: %s", self.name, exc)
        self.settled = True
