"""Where an event stream resumes: its SSE event id (UI.md A.1-3, A.3-3).

Every event of a stream carries one id, `<change>` or `<change>_<offset>_<line>`: the last
change id the stream delivered and, on a stream that follows a log, the byte offset and the
number of the next line after the last log batch it sent. A browser gives it back on
reconnect (`Last-Event-ID`, or `?last_id=` when the page re-creates the stream), and the
stream replays from there: invalidations after `change`, log lines from `offset`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = re.compile(r"(\d{1,18})(?:_(\d{1,18})_(\d{1,12}))?")
_LOG = re.compile(r"attempt:(\d{1,18})/(\d{1,9})(?:@(\d{1,18}):(\d{1,12}))?")


@dataclass(frozen=True)
class Position:
    change: int
    offset: int | None = None
    line: int | None = None

    def event_id(self) -> str:
        if self.offset is None:
            return str(self.change)
        return f"{self.change}_{self.offset}_{self.line or 1}"


def parse(event_id: str | None) -> Position | None:
    """The position an event id names; None for no id or a malformed one."""
    found = _ID.fullmatch((event_id or "").strip())
    if not found:
        return None
    change, offset, line = found.groups()
    if offset is None:
        return Position(int(change))
    return Position(int(change), int(offset), max(1, int(line)))


@dataclass(frozen=True)
class LogStart:
    """An `attempt:` topic's log: which try, and from which byte and line number."""

    topic: str
    ti_id: int
    try_number: int
    offset: int
    line: int


def log_start(topic: str) -> LogStart | None:
    """`attempt:<ti>/<try>[@<offset>:<line>]` → the log to follow (None for other topics).
    The page that rendered a log up to byte `offset` (line `line - 1`) names it with the
    suffix (`live.attempt_log_topic`), so the stream goes on exactly where the page ends.
    (A colon, not a comma: the topics of a stream are comma-separated.)"""
    found = _LOG.fullmatch(topic)
    if not found:
        return None
    ti, tried, offset, line = found.groups()
    base = f"attempt:{ti}/{tried}"
    return LogStart(base, int(ti), int(tried), int(offset or 0), max(1, int(line or 1)))


def resumed_log(start: LogStart, position: Position | None) -> LogStart:
    """Where a resumed stream's log goes on: from the position the browser saw last, when it
    saw log lines, else where the page started."""
    if position is None or position.offset is None:
        return start
    line = position.line or 1
    return LogStart(start.topic, start.ti_id, start.try_number, position.offset, line)
