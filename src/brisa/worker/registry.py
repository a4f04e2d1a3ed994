"""Which worker processes are alive, read from the outside world.

Every worker the local executor starts is recorded as a pid file in a folder of its own
(`<ti>-<try>.pid`: pid and the process's start time), by the worker itself before it tells
the API it started, and by the executor once the launch returns. An executor reads the folder
whenever it changed and keeps the entries whose process still runs with the same start time
(a recycled pid has another), so it adopts the workers that kept running through a restart —
even one launched by a killed executor that had no time to record it — instead of starting
them twice. Entries whose process is gone are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from brisa.core.records import AttemptRef

_NAME = re.compile(r"^(\d+)-(\d+)\.pid$")


def process_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        fields = os.read(fd, 4096).rsplit(b")", 1)[-1].split()
    except OSError:
        return None
    finally:
        os.close(fd)
    if fields[0] == b"Z":  # exited; its parent has not reaped it yet
        return None
    return int(fields[19])


def record_worker(folder: str, ref: AttemptRef, pid: int, started: int | None = None) -> None:
    """Enter worker `pid` (started at `started` clock ticks, read from /proc if not given)
    for attempt `ref` in the registry `folder` (made if missing). With `os` calls only: a
    forked worker does this before its start call, and every Python object it touches on
    the way is a page copied (ADR 0033)."""
    started = started if started is not None else process_start_time(pid)
    final = f"{folder}/{ref.ti_id}-{ref.try_number}.pid"
    # Unique per writer: the worker and its executor may record it at the same time.
    partial = f"{final.removesuffix('.pid')}.{os.getpid()}.tmp"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.write(fd, f"{pid} {started or 0}\n".encode())
    finally:
        os.close(fd)
    os.replace(partial, final)


def process_group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in the process group `pgid`: a worker's
    whole group, since each worker leads its own."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if process_start_time(pgid) is not None:
        return True  # its leader runs
    # The leader is gone or a zombie (not reaped yet): zombies of the group count as gone.
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    state, _, group = f.read().rsplit(")", 1)[-1].split()[:3]
            except (OSError, ValueError):
                continue
            if int(group) == pgid and state != "Z":
                return True
    return False


class WorkerRegistry:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, ref: AttemptRef) -> Path:
        return self.folder / f"{ref.ti_id}-{ref.try_number}.pid"

    def record(self, ref: AttemptRef, pid: int, started: int | None = None) -> None:
        """Enter worker `pid` (started at `started` clock ticks, read from /proc if not
        given) for attempt `ref`."""
        record_worker(str(self.folder), ref, pid, started)

    def changed_since(self, mtime_ns: int) -> int | None:
        """The folder's modification time if it changed since `mtime_ns` (an entry was
        added or removed) or changed lately, else None. Lately: the file system's clock is
        coarse, so two changes in one tick leave one time; a recent time is read again."""
        try:
            now = self.folder.stat().st_mtime_ns
        except OSError:
            return None
        recent = time.time_ns() - now < 1_000_000_000
        return now if now != mtime_ns or recent else None

    def running(self, ref: AttemptRef) -> int | None:
        """The pid of the worker recorded for `ref` if its process still runs (the one
        recorded, by its start time), else None."""
        try:
            pid, started = (int(x) for x in self._path(ref).read_text().split())
        except (OSError, ValueError):
            return None
        return pid if process_start_time(pid) == started else None

    def forget(self, ref: AttemptRef) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(ref).unlink()

    def live(self, skip: Iterable[AttemptRef] = ()) -> dict[AttemptRef, int]:
        """Recorded workers whose process is still the one recorded: attempt -> pid. Entries
        of processes that are gone are removed; those in `skip` (known already) not read."""
        found: dict[AttemptRef, int] = {}
        known = {self._path(ref).name for ref in skip}
        for path in self.folder.glob("*.pid"):
            match = _NAME.match(path.name)
            if not match or path.name in known:
                continue
            try:
                pid, started = (int(x) for x in path.read_text().split())
            except (OSError, ValueError):
                continue
            if process_start_time(pid) == started:
                found[AttemptRef(int(match.group(1)), int(match.group(2)))] = pid
            else:
                path.unlink(missing_ok=True)
        return found
