"""Reading an attempt's log for people: one bounded page, or following it as it grows.

When is a log over? The worker writes `full.log` as its very last act, after reporting its
result, so `full.log` means "nothing more will come". A killed worker does not; on the local
executor its orphaned log process, or else the spool sweep (`recovery`, woken by the same
scheduler pass that declares the attempt lost), writes it from the worker's spool file. When
nobody can (the worker's machine is gone, the store is unreachable), the log counts as over once the
attempt has ended and `SETTLE` seconds have passed. `SETTLE` also covers the normal race of a
reader seeing the attempt end before the worker's last chunk and `full.log` land, which takes
milliseconds on a healthy store but longer on a slow one: hence 10 s rather than less.

An attempt has ended when it is no longer the task's current try, or when the task is
finished or waiting for a retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from brisa.core.records import AttemptRecord, RunRecord, TaskRecord
from brisa.core.states import FINISHED_TASK_STATES, TaskState
from brisa.logs import layout
from brisa.objectstore import ObjectStore

PAGE_BYTES = 1024 * 1024  # most bytes read (and held in memory) per page
SETTLE = 10.0  # seconds after an attempt's end during which its worker may still ship lines
POLL_INTERVAL = 0.5
MAX_FOLLOW = 3600.0  # a follower is let go after this long; it resumes from its offset


class TaskSource(Protocol):
    """The two store reads a follower needs."""

    def tasks_by_id(self, ti_ids: list[int]) -> dict[int, TaskRecord]: ...

    def list_attempts(self, ti_id: int) -> list[AttemptRecord]: ...


@dataclass(frozen=True)
class Page:
    try_number: int
    content: str
    offset: int
    next_offset: int
    finished: bool


@dataclass(frozen=True)
class Chunk:
    try_number: int
    content: str
    next_offset: int


@dataclass(frozen=True)
class End:
    """The attempt has ended and everything up to `next_offset` was sent."""

    try_number: int
    next_offset: int


def has_ended(ti: TaskRecord, try_number: int) -> bool:
    return (
        try_number < ti.try_number
        or ti.state in FINISHED_TASK_STATES
        or ti.state is TaskState.UP_FOR_RETRY
    )


def _ended_at(tasks: TaskSource, ti: TaskRecord, try_number: int) -> datetime | None:
    if try_number == ti.try_number:
        return ti.end_date
    done = [a.end_date for a in tasks.list_attempts(ti.id) if a.try_number == try_number]
    return done[0] if done else None


def _whole_chars(data: bytes) -> bytes:
    """`data` without a UTF-8 character cut in two at its end: the next read starts with it."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead
            continue
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte >= 0xF0 else 1
        return data[:-back] if need > back else data
    return data


def _read(objects: ObjectStore, prefix: str, offset: int, *, over: bool = False) -> bytes:
    """The next bytes from `offset`, ending on a whole character unless the log is `over`."""
    data, _ = layout.read(objects, prefix, offset, PAGE_BYTES)
    return data if over else _whole_chars(data)


def _prefix(run: RunRecord, ti: TaskRecord, try_number: int) -> str:
    return layout.attempt_prefix(run.team, run.dag_id, run.run_id, ti.task_id, try_number)


def _is_complete(segments: list[layout.Segment]) -> bool:
    return len(segments) == 1 and segments[0].key.endswith("/" + layout.FULL)


def page(
    objects: ObjectStore,
    tasks: TaskSource,
    run: RunRecord,
    ti: TaskRecord,
    try_number: int,
    offset: int,
    now: datetime,
) -> Page:
    """Up to PAGE_BYTES of one try's log from `offset`; `finished` once nothing more will come."""
    prefix = _prefix(run, ti, try_number)
    complete = _is_complete(layout.segments(objects, prefix))
    finished = has_ended(ti, try_number)
    if finished and not complete:
        ended_at = _ended_at(tasks, ti, try_number)
        finished = ended_at is None or (now - ended_at).total_seconds() >= SETTLE
    data = _read(objects, prefix, offset, over=finished)
    content = data.decode(errors="replace")
    return Page(try_number, content, offset, offset + len(data), finished)


@dataclass
class Follower:
    """Follows one task's log (a given try, or the current one once it has started).

    Iterating yields a Chunk for new bytes, None after each poll that found nothing (so a
    caller can notice a client that went away), and an End when the log is over. It stops
    without an End after `max_duration`; the client then resumes from its last offset.
    """

    objects: ObjectStore
    tasks: TaskSource
    run: RunRecord
    ti: TaskRecord
    try_number: int | None
    offset: int
    clock: Callable[[], datetime]
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval: float = POLL_INTERVAL
    max_duration: float = MAX_FOLLOW

    def __iter__(self) -> Iterator[Chunk | End | None]:
        deadline = self.monotonic() + self.max_duration
        number = self.try_number or self.ti.try_number
        while number == 0:  # the task has not started: wait for its first try
            if self.ti.state in FINISHED_TASK_STATES:  # it never will (skipped, ...)
                yield End(0, self.offset)
                return
            if self.monotonic() >= deadline:
                return
            yield None
            self.sleep(self.poll_interval)
            self._refresh()
            number = self.ti.try_number
        yield from self._follow(number, deadline)

    def _refresh(self) -> None:
        self.ti = self.tasks.tasks_by_id([self.ti.id]).get(self.ti.id, self.ti)

    def _follow(self, number: int, deadline: float) -> Iterator[Chunk | End | None]:
        prefix = _prefix(self.run, self.ti, number)
        offset, ended_seen = self.offset, None
        while self.monotonic() < deadline:
            segments = layout.segments(self.objects, prefix)
            size = segments[-1].start + segments[-1].size if segments else 0
            data = _read(self.objects, prefix, offset) if size > offset else b""
            if data:
                offset += len(data)
                yield Chunk(number, data.decode(errors="replace"), offset)
                continue
            over = _is_complete(segments)
            if not over and ended_seen is None and self._ended(number):
                ended_seen = self.monotonic()
            if over or (ended_seen is not None and self._settled(number, ended_seen)):
                rest = _read(self.objects, prefix, offset, over=True) if size > offset else b""
                if rest:  # bytes that are not a whole character: send them as they are
                    offset += len(rest)
                    yield Chunk(number, rest.decode(errors="replace"), offset)
                yield End(number, offset)
                return
            yield None
            self.sleep(self.poll_interval)

    def _ended(self, number: int) -> bool:
        self._refresh()
        return has_ended(self.ti, number)

    def _settled(self, number: int, ended_seen: float) -> bool:
        if self.monotonic() - ended_seen >= SETTLE:
            return True
        ended_at = _ended_at(self.tasks, self.ti, number)
        return ended_at is not None and (self.clock() - ended_at).total_seconds() >= SETTLE
