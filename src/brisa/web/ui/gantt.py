"""Gantt geometry (UI.md A.2.7): one row per task, its attempts as bars on one time axis, each bar
a hatched queued segment then a running segment in the state's colour, positioned in percent of
the run's span (the template writes them as `style="left:..%;width:..%"`). The axis is labelled
in the display zone with its abbreviation. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from brisa.core.records import AttemptRecord
from brisa.web.ui.timefmt import duration_text

TICKS = 5


@dataclass(frozen=True)
class Segment:
    kind: str  # "queued" or the attempt's state
    left: float  # percent of the axis
    width: float
    seconds: float


@dataclass(frozen=True)
class Bar:
    try_number: int
    state: str
    segments: list[Segment]
    label: str  # accessible text: try, state, queued and running durations


@dataclass(frozen=True)
class Tick:
    left: float
    label: str


@dataclass(frozen=True)
class Chart:
    rows: list[tuple[str, list[Bar]]]
    ticks: list[Tick]
    zone_abbrev: str
    empty: bool


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _bounds(attempts: Sequence[AttemptRecord], now: datetime) -> tuple[datetime, datetime] | None:
    starts = [_aware(t) for a in attempts if (t := a.queued_at or a.start_date) is not None]
    if not starts:
        return None
    ends = [_aware(a.end_date or now) for a in attempts]
    first = min(starts)
    last = max([*ends, *starts])
    return first, max(last, first + timedelta(seconds=1))


def _segment(kind: str, lo: datetime, hi: datetime, origin: datetime, span: float) -> Segment:
    hi = max(hi, lo)  # a re-queued or deferred attempt never draws a negative segment
    left = (lo - origin).total_seconds() / span * 100
    seconds = (hi - lo).total_seconds()
    return Segment(kind, round(left, 3), round(seconds / span * 100, 3), seconds)


def _bar(attempt: AttemptRecord, origin: datetime, span: float, now: datetime) -> Bar | None:
    queued = _aware(attempt.queued_at) if attempt.queued_at else None
    started = _aware(attempt.start_date) if attempt.start_date else None
    ended = _aware(attempt.end_date) if attempt.end_date else now
    segments = []
    if queued is not None:
        segments.append(_segment("queued", queued, started or ended, origin, span))
    if started is not None:
        segments.append(_segment(attempt.state.value, started, ended, origin, span))
    if not segments:
        return None
    state = attempt.state.value.replace("_", " ")
    parts = [f"try {attempt.try_number}, {state}"]
    parts += [f"{'queued' if s.kind == 'queued' else 'ran'} {s.seconds:.1f} s" for s in segments]
    return Bar(attempt.try_number, attempt.state.value, segments, ", ".join(parts))


def chart(
    order: Sequence[str],
    attempts: Mapping[str, Sequence[AttemptRecord]],
    zone: ZoneInfo,
    now: datetime,
) -> Chart:
    """Bars for the tasks in `order` (the grid's order) that have attempts."""
    every = [a for tid in order for a in attempts.get(tid, ())]
    bounds = _bounds(every, now)
    if bounds is None:
        return Chart([], [], "", True)
    origin, end = bounds
    span = (end - origin).total_seconds()
    rows = []
    for tid in order:
        bars = [b for a in attempts.get(tid, ()) if (b := _bar(a, origin, span, now))]
        if bars:
            rows.append((tid, bars))
    return Chart(rows, _ticks(origin, span, zone), origin.astimezone(zone).tzname() or "", False)


def _ticks(origin: datetime, span: float, zone: ZoneInfo) -> list[Tick]:
    """The origin as a clock time in `zone`, the other ticks as time since it (`+2 m 30 s`)."""
    ticks = [Tick(0, origin.astimezone(zone).strftime("%H:%M:%S"))]
    for i in range(1, TICKS):
        seconds = span * i / (TICKS - 1)
        ticks.append(Tick(round(i / (TICKS - 1) * 100, 3), "+" + duration_text(seconds)))
    return ticks
