"""Finishing the logs of workers that died, from the spool files they leave behind.

A worker's log process keeps the attempt's whole log, masked and stamped, in a spool file on
the worker's machine (`<executor's file>.<worker pid>.spool`, see logs.capture; before
s21 (2026-12-07) `<executor's file>.chunks/<worker pid>.log`, a layout still read here) and ships it
in chunks. When the worker's whole process group dies (the OOM killer, `kill -9` of the
group, or the executor's clean-up after a worker that died, which takes its log process
along), the last chunk interval of output is only in that file. The spool sweep finishes
the log as the worker would have: a housekeeping job woken as soon as the local executor
learns that the worker is gone looks at that worker's spool only (`sweep_gone`), and a full
pass every `SWEEP_INTERVAL` seconds catches the rest (`sweep`: workers that died while no
executor watched, spools left for later). What the store lacks goes there as the next
chunk(s), with a line saying what happened, then `full.log` replaces the chunks, and the spool
file is removed. A spool whose attempt never started (its `start` call failed) goes to the
executor's file instead, as the log process would have done. A log that cannot be finished
(the store stays unavailable) is tried again on every full sweep, and its spool file is
removed after `max_age`.

The executor's file for a worker (`ti<id>-try<n>.log`, where its stdout and stderr go) holds
only what was printed before the log capture started, if anything. Once the worker is gone and
its log finished (no spool beside it), the full sweep removes the file if it is empty; one that
says something is kept.

`judge`, `completion` and `tail_chunks` decide, without I/O; `SpoolSweeper` acts, one
pass at a time, on the housekeeping threads of its jobs (see `brisa.housekeeping`), so that a
slow or unavailable store never holds up the scheduler or the executor.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from brisa.logs import layout
from brisa.logs.capture import (
    SPOOL_SUFFIX,
    attempt_file,
    in_own_folder,
    partial_attempt_file,
    utc_stamp,
)
from brisa.logs.chunking import chunk_ranges
from brisa.logs.config import ShippingConfig
from brisa.objectstore import ObjectInfo, ObjectStore

log = logging.getLogger("brisa.spools")

MAX_AGE = 86400.0  # seconds: a spool whose log cannot be finished is removed after this
SWEEP_INTERVAL = 30.0  # seconds between sweeps (and one at once when a worker is found dead)
DYING_WAIT = 2.0  # how long a sweep waits for the group of a worker found dead to go
FULL_LOG_LIMIT = 64 << 20  # a bigger log is left in chunks: it is not read into memory
# An executor's file this young is left alone: its worker, just launched, may not be recorded
# among the live ones yet.
EXECUTOR_FILE_GRACE = 60.0

_EXECUTOR_FILE = re.compile(r"^ti(\d+)-try(\d+)\.log$")

Attempt = tuple[str, str, str, str, int]


class Verdict(Enum):
    WAIT = "wait"  # a process of the worker's group still runs: the file is still theirs
    FINISH = "finish"  # ship what the store lacks, write full.log, remove the file
    HAND_OVER = "hand over"  # the attempt never started: its lines go to the executor's file


@dataclass(frozen=True)
class LeftSpool:
    path: Path
    pid: int  # the worker's, the leader of its process group
    attempt: Attempt | None  # None: the attempt had not started
    size: int
    modified: float  # wall clock


@dataclass(frozen=True)
class Completion:
    """What the store holds of a log that has no full.log: chunks 1..`last`, `shipped` bytes."""

    shipped: int
    last: int


def judge(spool: LeftSpool, *, group_alive: bool) -> Verdict:
    if group_alive:
        return Verdict.WAIT
    return Verdict.HAND_OVER if spool.attempt is None else Verdict.FINISH


def expired(spool: LeftSpool, now: float, max_age: float) -> bool:
    return now - spool.modified >= max_age


def completion(prefix: str, objects: list[ObjectInfo]) -> Completion | None:
    """What the store holds of an attempt's log; None once it has full.log (it is complete)."""
    segments = layout.segments_of(prefix, objects)
    if not segments:
        return Completion(0, 0)
    last = segments[-1]
    number = layout.chunk_number(prefix, last.key)
    return None if number is None else Completion(last.start + last.size, number)


def tail_chunks(done: Completion, size: int, chunk_bytes: int) -> list[tuple[int, int, int]]:
    """The chunks a spool of `size` bytes adds to the store: (number, start, end) in the file.

    The spool holds the whole log and chunks are cut from it in order, so what the store
    lacks is what follows its `shipped` bytes."""
    pieces = chunk_ranges(done.shipped, size, chunk_bytes)
    return [(done.last + n, start, end) for n, (start, end) in enumerate(pieces, start=1)]


def closing_note(recovered: int, line_open: bool, wall: float) -> bytes:
    """The last line of a log finished by the executor (on a line of its own)."""
    text = (
        f"brisa: the worker ended before its log was complete; the executor shipped the last "
        f"{recovered} bytes from its spool file"
    )
    return (b"\n" if line_open else b"") + f"{utc_stamp(wall)} {text}\n".encode()


@dataclass(frozen=True)
class ExecutorFile:
    """The executor's file for a worker: where its stdout and stderr go."""

    path: Path
    attempt: tuple[int, int]  # (task instance, try)
    size: int
    modified: float  # wall clock
    spooling: bool  # a spool is beside it: its log is not finished


def spent(file: ExecutorFile, *, now: float, live: Collection[tuple[int, int]]) -> bool:
    """Whether an executor's file can go: it is empty, its log is finished, and its worker
    is gone (not in `live`) — and it is older than `EXECUTOR_FILE_GRACE`."""
    young = now - file.modified < EXECUTOR_FILE_GRACE
    return not (file.size or file.spooling or young or file.attempt in live)


def executor_files(folder: Path) -> list[ExecutorFile]:
    """The executor's files for workers in a spool folder (`ti<id>-try<n>.log`)."""
    found: list[ExecutorFile] = []
    entries: list[os.DirEntry[str]] = []
    with contextlib.suppress(FileNotFoundError):
        entries = list(os.scandir(folder))
    spooled = {_spool_owner(entry.name) for entry in entries}
    for entry in entries:
        match = _EXECUTOR_FILE.match(entry.name)
        if match is None:
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:
            continue
        attempt = (int(match.group(1)), int(match.group(2)))
        spooling = entry.name in spooled
        found.append(ExecutorFile(Path(entry.path), attempt, stat.st_size, stat.st_mtime, spooling))
    return found


def _spool_owner(name: str) -> str | None:
    """The executor's file whose spool the entry `name` is (`<file>.<pid>.spool`, or the
    older layout's folder `<file>.chunks`), if it is one."""
    if name.endswith(SPOOL_SUFFIX):
        owner, _, pid = name.removesuffix(SPOOL_SUFFIX).rpartition(".")
        return owner if pid.isdigit() else None
    return name.removesuffix(".chunks") if name.endswith(".chunks") else None


def left_spools(folder: Path) -> list[LeftSpool]:
    """The spool files in a spool folder (`*.<pid>.spool`, and the older layout's
    `*.chunks/<pid>.log`), with their attempts."""
    found = [left_spool(path) for path in _spool_files(folder) if _spool_pid(path) is not None]
    return [spool for spool in found if spool is not None]


def spool_of(folder: Path, attempt: tuple[int, int], pid: int) -> LeftSpool | None:
    """The spool of worker `pid` of attempt (task instance, try), if it left one: found by
    its name (`ti<id>-try<n>.log.<pid>.spool`, or the older layout's
    `ti<id>-try<n>.log.chunks/<pid>.log`), without listing the folder."""
    name = executor_file_name(*attempt)
    found = left_spool(folder / f"{name}.{pid}{SPOOL_SUFFIX}")
    return found or left_spool(folder / f"{name}.chunks" / f"{pid}.log")


def executor_file_name(ti_id: int, try_number: int) -> str:
    """The name of the executor's file for a worker of (task instance, try)."""
    return f"ti{ti_id}-try{try_number}.log"


def left_spool(path: Path) -> LeftSpool | None:
    """The spool file at `path` with its attempt; None if there is none."""
    pid = _spool_pid(path)
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # none, or finished by its log process
        return None
    if pid is None:
        return None
    return LeftSpool(path, pid, _attempt(path), stat.st_size, stat.st_mtime)


def _spool_pid(path: Path) -> int | None:
    """The worker's pid in a spool's name (`<file>.<pid>.spool`, or `<pid>.log` in the older
    layout's folder)."""
    if in_own_folder(path):
        text = path.stem if path.suffix == ".log" else ""
    else:
        text = path.stem.rpartition(".")[2]
    return int(text) if text.isdigit() else None


def _spool_files(folder: Path) -> list[Path]:
    """The spool files under `folder`: `*.spool` in it, and `*.chunks/*.log` of the older
    layout (a `.chunks` folder its log process removes while it is listed is skipped)."""
    files: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return files
    for entry in entries:
        if entry.name.endswith(SPOOL_SUFFIX):
            files.append(Path(entry.path))
        elif entry.name.endswith(".chunks"):
            try:
                files += [Path(e.path) for e in os.scandir(entry.path) if e.name.endswith(".log")]
            except (FileNotFoundError, NotADirectoryError):
                continue
    return files


def _attempt(spool: Path) -> Attempt | None:
    try:
        team, dag_id, run_id, task_id, try_number = json.loads(attempt_file(spool).read_text())
    except (OSError, ValueError, TypeError):
        return None
    return str(team), str(dag_id), str(run_id), str(task_id), int(try_number)


def remove(spool: LeftSpool) -> None:
    for path in (spool.path, attempt_file(spool.path), partial_attempt_file(spool.path)):
        path.unlink(missing_ok=True)
    if in_own_folder(spool.path):
        with contextlib.suppress(OSError):  # not empty: another worker of the attempt
            spool.path.parent.rmdir()


def spool_held(path: Path) -> bool:
    """Whether a log process still writes the spool file `path` (it holds a lock on it):
    the shared log server (ADR 0025) outlives the worker whose log it ships."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # and with it the lock just taken
    return False


def _read(f: BinaryIO, start: int, end: int) -> bytes:
    f.seek(start)
    return f.read(end - start)


def finish_log(store: ObjectStore, spool: LeftSpool, chunk_bytes: int, wall: float) -> int | None:
    """Ship what the store lacks of the spool's log, a closing line, then full.log (the
    chunks are then deleted). Returns how many bytes were recovered (None: the log was
    complete already, or is not this spool's)."""
    assert spool.attempt is not None
    prefix = layout.attempt_prefix(*spool.attempt)
    done = completion(prefix, store.list(prefix))
    with open(spool.path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if done is None or size < done.shipped:
            return None
        pieces = tail_chunks(done, size, chunk_bytes)
        for number, start, end in pieces:
            store.put(layout.chunk_key(prefix, number), _read(f, start, end))
        note = closing_note(
            size - done.shipped, size > 0 and _read(f, size - 1, size) != b"\n", wall
        )
        last = (pieces[-1][0] if pieces else done.last) + 1
        store.put(layout.chunk_key(prefix, last), note)
        if size + len(note) <= FULL_LOG_LIMIT:
            store.put(prefix + layout.FULL, _read(f, 0, size) + note)
            with contextlib.suppress(Exception):  # readers prefer full.log anyway
                store.delete([layout.chunk_key(prefix, n) for n in range(1, last + 1)])
    return size - done.shipped


def hand_over(spool: LeftSpool) -> None:
    """Append a spool whose attempt never started to the executor's file for the worker."""
    if in_own_folder(spool.path):  # the older layout: `<file>.chunks/<pid>.log`
        executor_file = Path(str(spool.path.parent).removesuffix(".chunks"))
    else:  # `<file>.<pid>.spool`
        executor_file = spool.path.with_name(spool.path.stem.rpartition(".")[0])
    with open(spool.path, "rb") as source, open(executor_file, "ab") as target:
        while data := source.read(1 << 20):
            target.write(data)


class SpoolSweeper:
    """Finds the spool files of dead workers in `folder` and finishes their logs in the store
    (or hands them to the executor's file). Two kinds of pass, one at a time: `sweep`, over
    the whole folder, run by housekeeping every `SWEEP_INTERVAL` seconds; and `sweep_gone`,
    over the spools of the workers reported by `worker_gone` only, run at once after it, so a
    worker's exit costs the same however many spools and files the folder holds."""

    def __init__(
        self,
        folder: Path,
        open_store: Callable[[], ObjectStore],
        chunk_bytes: int,
        group_alive: Callable[[int], bool],
        *,
        live_attempts: Callable[[], Collection[tuple[int, int]]],
        max_age: float = MAX_AGE,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.folder = folder
        self._open_store = open_store
        self._store: ObjectStore | None = None
        self.chunk_bytes = chunk_bytes
        self._group_alive = group_alive
        self._live_attempts = live_attempts
        self.max_age = max_age
        self._wall, self._sleep = wall, sleep
        self._dying: dict[int, tuple[int, int]] = {}  # pid: (task instance, try)
        self._retrying: set[Path] = set()  # said once that it cannot be finished yet
        self._lock = threading.Lock()
        self._passing = threading.Lock()  # one pass at a time: a spool is settled once

    def worker_gone(self, pid: int, attempt: tuple[int, int]) -> None:
        """Worker `pid` of attempt (task instance, try) was found dead (its group is being
        killed): the next `sweep_gone` settles its spool, waiting a moment for the group to go
        instead of leaving it for a later sweep."""
        with self._lock:
            self._dying[pid] = attempt

    def sweep_gone(self) -> int:
        """Settle the spools of the workers reported gone since the last call, and no other;
        returns how many were settled. One left while its group lives on is the next
        `sweep`'s."""
        with self._lock:
            dying, self._dying = self._dying, {}
        settled = 0
        with self._passing:
            for pid, attempt in dying.items():
                spool = spool_of(self.folder, attempt, pid)
                if spool is not None and self._judge_and_settle(spool, dying=True):
                    settled += 1
        return settled

    def sweep(self) -> int:
        """One pass over the folder; returns how many spools were settled."""
        settled = 0
        with self._passing:
            for spool in left_spools(self.folder):
                if self._judge_and_settle(spool, dying=False):
                    settled += 1
            self._remove_spent_files()
        return settled

    def _judge_and_settle(self, spool: LeftSpool, *, dying: bool) -> bool:
        verdict = judge(spool, group_alive=self._still_alive(spool, dying))
        return verdict is not Verdict.WAIT and self._settle(spool, verdict)

    def _remove_spent_files(self) -> None:
        """Remove the executor's files that hold nothing and never will (`spent`)."""
        now = self._wall()
        spent_unless_alive = [f for f in executor_files(self.folder) if spent(f, now=now, live=())]
        if not spent_unless_alive:
            return
        live = set(self._live_attempts())  # read once the files are listed: none is missed
        for file in spent_unless_alive:
            if spent(file, now=now, live=live):
                file.path.unlink(missing_ok=True)

    def _still_alive(self, spool: LeftSpool, dying: bool) -> bool:
        """Whether the worker's group runs, or a log process still writes its spool; for one
        found dead, wait a moment for them to go."""
        waited = 0.0
        while self._group_alive(spool.pid) or spool_held(spool.path):
            if not dying or waited >= DYING_WAIT:
                return True
            self._sleep(0.01)
            waited += 0.01
        return False

    def _settle(self, spool: LeftSpool, verdict: Verdict) -> bool:
        try:
            if verdict is Verdict.HAND_OVER:
                hand_over(spool)
            else:
                self._finish(spool)
        except FileNotFoundError:
            if spool.path.exists():
                raise
            # Listed while its log process was finishing it: that process shipped the log.
            self._retrying.discard(spool.path)
            return True
        except Exception as exc:  # noqa: BLE001 - the store is unavailable, ...: next sweep
            if not expired(spool, self._wall(), self.max_age):
                level = logging.DEBUG if spool.path in self._retrying else logging.WARNING
                log.log(level, "cannot finish the log in %s yet (%s); will retry", spool.path, exc)
                self._retrying.add(spool.path)
                return False
            log.warning("gave up on the log in %s after %.0fs: %s", spool.path, self.max_age, exc)
        self._retrying.discard(spool.path)
        remove(spool)
        return True

    def _finish(self, spool: LeftSpool) -> None:
        store = self._store = self._store or self._open_store()
        recovered = finish_log(store, spool, self.chunk_bytes, self._wall())
        if recovered is not None:
            log.info("finished the log of dead worker %d: %d bytes recovered", spool.pid, recovered)


def sweeper_for_workers(
    folder: Path,
    config: ShippingConfig,
    group_alive: Callable[[int], bool],
    live_attempts: Callable[[], Collection[tuple[int, int]]],
) -> SpoolSweeper | None:
    """The sweeper of the spools workers leave in `folder`: it finishes their logs in the store
    and with the chunk size the workers ship with. None when the workers ship to no store.
    `live_attempts` are the (task instance, try) of the workers that live on this machine."""
    if not config.location:
        return None
    return SpoolSweeper(
        folder, config.open_store, config.chunk_bytes, group_alive, live_attempts=live_attempts
    )
