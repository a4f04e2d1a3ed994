"""When a DAG runs: cron in a time zone, a fixed interval, or manual only.

Pure functions over the typed schedule spec (`core.spec`). A run for fire time `t` has logical date
`t` and the data interval `[previous fire, t)`. All datetimes returned are UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brisa.core.spec import CronSchedule, IntervalSchedule, ManualSchedule, ScheduleSpec
from brisa.errors import InvalidInput

if TYPE_CHECKING:
    from cronsim import CronSim

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown time zone {name!r}; use an IANA name like 'Europe/Berlin'"
        ) from exc


def parse_schedule(schedule: str | timedelta | None, timezone: str = "UTC") -> ScheduleSpec:
    """Validate an author's schedule and turn it into its serialized form."""
    _zone(timezone)
    if schedule is None or schedule == "@manual":
        return ManualSchedule()
    if isinstance(schedule, timedelta):
        if schedule.total_seconds() <= 0:
            raise InvalidInput(f"an interval schedule must be positive, got {schedule}")
        return IntervalSchedule(schedule.total_seconds())
    if not isinstance(schedule, str):
        raise InvalidInput(
            f"schedule must be a cron string, a timedelta or None, got {type(schedule).__name__}"
        )
    expr = PRESETS.get(schedule.strip(), schedule.strip())
    if len(expr.split()) != 5:
        raise InvalidInput(
            f"invalid cron {schedule!r}: expected 5 fields (minute hour dom month dow)"
        )
    from cronsim import CronSim, CronSimError  # see `_cronsim`

    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise InvalidInput(f"invalid cron {schedule!r}: {exc}") from exc
    return CronSchedule(expr, timezone)


def describe(spec: ScheduleSpec) -> str:
    if isinstance(spec, CronSchedule):
        return f"{spec.expr} ({spec.timezone})"
    if isinstance(spec, IntervalSchedule):
        return f"every {timedelta(seconds=spec.seconds)}"
    return "manual"


def _cronsim() -> type[CronSim]:
    """`cronsim` (with `calendar` and `locale`), imported on first use: DAG files import this
    module through the authoring API, and so does the fork server every worker is forked
    from, while only cron schedules need it."""
    from cronsim import CronSim

    return CronSim


def _cron(spec: ScheduleSpec) -> CronSchedule:
    if not isinstance(spec, CronSchedule):
        raise AssertionError(f"a {spec.kind} schedule has no fire times of its own")
    return spec


def _cron_before(spec: ScheduleSpec, local_after: datetime) -> datetime:
    """The last cron fire strictly before `local_after` (in the schedule's zone), in UTC."""
    cron = _cron(spec)
    local = local_after.astimezone(_zone(cron.timezone))
    return next(iter(_cronsim()(cron.expr, local, reverse=True))).astimezone(UTC)


def _fires_after(spec: ScheduleSpec, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after `after`, ascending, in UTC."""
    cron = _cron(spec)
    local = after.astimezone(_zone(cron.timezone))
    for t in _cronsim()(cron.expr, local):
        yield t.astimezone(UTC)
    raise AssertionError("cron fire times never end")


def previous_fire(spec: ScheduleSpec, before: datetime, start: datetime) -> datetime:
    """The last fire time strictly before `before`, or `before` minus one period for intervals."""
    if isinstance(spec, IntervalSchedule):
        return before - timedelta(seconds=spec.seconds)
    return _cron_before(spec, before)


def first_run(spec: ScheduleSpec, start: datetime) -> datetime:
    """The first fire whose whole data interval lies at or after `start`.

    A daily DAG starting 2026-01-01 first runs at 2026-01-02 00:00 for the interval
    [01-01, 01-02): no run ever covers time before the start date.
    """
    if isinstance(spec, IntervalSchedule):
        return start + timedelta(seconds=spec.seconds)
    fires = _fires_after(spec, start - timedelta(microseconds=1))
    # In a fall-back hour, local times repeat: a fire found just before `start` may lie
    # before it in UTC. Only fires at or after `start` count.
    first = next(f for f in fires if f >= start)
    return next(f for f in fires if f > first)


def first_fire_at_or_after(spec: ScheduleSpec, start: datetime, at: datetime) -> datetime:
    """The first fire time >= `at` (and not before the first run)."""
    at = max(at, first_run(spec, start))
    if isinstance(spec, IntervalSchedule):
        step = spec.seconds
        k = -(-(at - start).total_seconds() // step)  # ceiling division
        return start + timedelta(seconds=k * step)
    return next(_fires_after(spec, at - timedelta(microseconds=1)))


def latest_fire_at_or_before(spec: ScheduleSpec, start: datetime, at: datetime) -> datetime | None:
    """The last fire time <= `at` that is not before the first run, if any."""
    if at < first_run(spec, start):
        return None
    if isinstance(spec, IntervalSchedule):
        step = spec.seconds
        k = (at - start).total_seconds() // step
        return start + timedelta(seconds=k * step)
    return _cron_before(spec, at + timedelta(microseconds=1))


def due_fires(
    spec: ScheduleSpec,
    *,
    start: datetime,
    end: datetime | None,
    last: datetime | None,
    now: datetime,
    catchup: bool,
    limit: int,
) -> list[datetime]:
    """Fire times whose runs should exist by `now` but do not yet (after `last`).

    With catchup every missed fire is returned (oldest first, at most `limit`); without it
    only the most recent one, so a DAG that was paused for a week runs once, not 7 times.
    """
    if isinstance(spec, ManualSchedule) or limit <= 0:
        return []
    horizon = min(now, end) if end else now
    if not catchup:
        fire = latest_fire_at_or_before(spec, start, horizon)
        return [fire] if fire is not None and (last is None or fire > last) else []
    fires: list[datetime] = []
    fire = first_fire_at_or_after(spec, start, last + timedelta(microseconds=1) if last else start)
    while fire <= horizon and len(fires) < limit:
        fires.append(fire)
        fire = first_fire_at_or_after(spec, start, fire + timedelta(microseconds=1))
    return fires


def next_fire(
    spec: ScheduleSpec,
    *,
    start: datetime,
    end: datetime | None,
    last: datetime | None,
    now: datetime,
    catchup: bool,
) -> datetime | None:
    """When the next scheduled run is due (for display): a fire already due is returned as
    is; None for manual DAGs and after the end date."""
    due = due_fires(spec, start=start, end=end, last=last, now=now, catchup=catchup, limit=1)
    if due:
        return due[0]
    if isinstance(spec, ManualSchedule):
        return None
    after = max(last + timedelta(microseconds=1) if last else start, now)
    fire = first_fire_at_or_after(spec, start, after)
    return None if end is not None and fire > end else fire


def data_interval(spec: ScheduleSpec, fire: datetime, start: datetime) -> tuple[datetime, datetime]:
    """The data interval a scheduled run at `fire` covers."""
    return previous_fire(spec, fire, start), fire
