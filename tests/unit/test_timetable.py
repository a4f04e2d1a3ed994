"""When DAGs run: cron in a time zone, fixed intervals, manual only; catchup and end dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brisa.core.spec import CronSchedule, IntervalSchedule, ManualSchedule, ScheduleSpec
from brisa.core.timetable import (
    data_interval,
    describe,
    due_fires,
    first_fire_at_or_after,
    first_run,
    latest_fire_at_or_before,
    next_fire,
    parse_schedule,
    previous_fire,
)
from brisa.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 1, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fires(spec: ScheduleSpec, **kw: Any) -> list[datetime]:
    args: dict[str, Any] = {"start": START, "end": None, "last": None, "catchup": True}
    args["limit"] = 1000
    return due_fires(spec, **{**args, **kw})


# --- parsing -------------------------------------------------------------------------------


def test_cron_keeps_its_time_zone() -> None:
    assert parse_schedule("30 2 * * *", "Europe/Berlin") == CronSchedule(
        expr="30 2 * * *", timezone="Europe/Berlin"
    )


@pytest.mark.parametrize(
    ("preset", "expr"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("  @daily ", "0 0 * * *"),
    ],
)
def test_presets(preset: str, expr: str) -> None:
    assert parse_schedule(preset) == CronSchedule(expr=expr, timezone="UTC")


@pytest.mark.parametrize("schedule", [None, "@manual"])
def test_manual(schedule: str | None) -> None:
    assert parse_schedule(schedule) == ManualSchedule()
    assert describe(parse_schedule(schedule)) == "manual"


def test_interval() -> None:
    spec = parse_schedule(timedelta(hours=6))
    assert spec == IntervalSchedule(seconds=21600.0)
    assert describe(spec) == "every 6:00:00"


def test_describe_cron() -> None:
    assert describe(parse_schedule("@daily", "Europe/Berlin")) == "0 0 * * * (Europe/Berlin)"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("61 * * * *", "invalid cron '61 * * * *': Bad minute"),
        ("0 25 * * *", "invalid cron '0 25 * * *': Bad hour"),
        ("x * * * *", "invalid cron 'x * * * *'"),
        ("* * * *", "expected 5 fields"),
        ("0 0 * * * *", "expected 5 fields"),
        ("@fortnightly", "invalid cron '@fortnightly': expected 5 fields"),
        ("", "expected 5 fields"),
        ("0 0 30 2 *", "invalid cron '0 0 30 2 *': Bad day-of-month"),  # February 30th never comes
    ],
)
def test_invalid_cron_is_refused_with_a_readable_message(schedule: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse_schedule(schedule)


@pytest.mark.parametrize("zone", ["Mars/Base", "", "../etc/passwd", "CEST"])
def test_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(InvalidInput, match=f"unknown time zone '{zone}'; use an IANA name"):
        parse_schedule("@daily", zone)


def test_time_zone_is_checked_even_for_manual_dags() -> None:
    with pytest.raises(InvalidInput, match="unknown time zone"):
        parse_schedule(None, "Nowhere/Land")


@pytest.mark.parametrize("interval", [timedelta(0), timedelta(seconds=-5)])
def test_interval_must_be_positive(interval: timedelta) -> None:
    with pytest.raises(InvalidInput, match="must be positive"):
        parse_schedule(interval)


@pytest.mark.parametrize("schedule", [3600, 1.5, ["@daily"]])
def test_schedule_of_the_wrong_type(schedule: Any) -> None:
    with pytest.raises(InvalidInput, match="cron string, a timedelta or None"):
        parse_schedule(schedule)


# --- cron in a time zone -------------------------------------------------------------------


def test_cron_fires_at_local_wall_clock_time_across_dst() -> None:
    spec = parse_schedule("0 9 * * *", "Europe/Berlin")
    winter = first_fire_at_or_after(spec, START, utc(2026, 1, 15))
    summer = first_fire_at_or_after(spec, START, utc(2026, 7, 15))
    assert winter == utc(2026, 1, 15, 8)  # CET = UTC+1
    assert summer == utc(2026, 7, 15, 7)  # CEST = UTC+2
    assert winter.tzinfo is UTC and summer.tzinfo is UTC


def _berlin_dates(times: list[datetime]) -> list[str]:
    return [t.astimezone(BERLIN).date().isoformat() for t in times]


def test_0230_job_fires_once_on_the_fall_back_day() -> None:
    # 2026-10-25: clocks go from 03:00 CEST back to 02:00 CET, so 02:30 happens twice.
    spec = parse_schedule("30 2 * * *", "Europe/Berlin")
    result = fires(spec, last=utc(2026, 10, 24, 12), now=utc(2026, 10, 26, 12))
    assert _berlin_dates(result) == ["2026-10-25", "2026-10-26"]
    assert result[0] == utc(2026, 10, 25, 0, 30)  # the first 02:30, still CEST
    assert result[1] == utc(2026, 10, 26, 1, 30)  # 02:30 CET


def test_0230_job_fires_once_on_the_spring_forward_day() -> None:
    # 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST, so 02:30 does not exist.
    # cronsim then fires at the first existing minute after the gap: 03:00 CEST (01:00 UTC).
    spec = parse_schedule("30 2 * * *", "Europe/Berlin")
    result = fires(spec, last=utc(2026, 3, 28, 12), now=utc(2026, 3, 30, 12))
    assert _berlin_dates(result) == ["2026-03-29", "2026-03-30"]
    assert result[0] == utc(2026, 3, 29, 1, 0)
    assert result[1] == utc(2026, 3, 30, 0, 30)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (utc(2026, 10, 24, 12), utc(2026, 10, 25, 0, 30)),  # fall back: the first 02:30 (CEST)
        (utc(2026, 3, 28, 12), utc(2026, 3, 29, 1, 0)),  # spring forward: 03:00 CEST
    ],
)
def test_a_scheduler_ticking_through_a_dst_change_creates_one_run(
    day: datetime, expected: datetime
) -> None:
    # Without catchup, every tick asks for the latest fire; each day must still give one run.
    spec = parse_schedule("30 2 * * *", "Europe/Berlin")
    start = day - timedelta(days=7)
    last = latest_fire_at_or_before(spec, start, day)  # the day before's run already exists
    assert last is not None and day - timedelta(days=1) < last < day
    created: list[datetime] = []
    now = day
    while now <= day + timedelta(days=1):
        new = due_fires(spec, start=start, end=None, last=last, now=now, catchup=False, limit=10)
        created += new
        last = new[-1] if new else last
        now += timedelta(minutes=5)
    assert created == [expected]


# --- due fires -----------------------------------------------------------------------------

DAILY = parse_schedule("@daily")


def test_catchup_returns_every_missed_fire_oldest_first() -> None:
    # The fire at the start date itself covers [12-31, 01-01): the first run is 01-02.
    result = fires(DAILY, now=utc(2026, 1, 5, 12))
    assert result == [utc(2026, 1, d) for d in range(2, 6)]


def test_catchup_is_bounded_by_limit() -> None:
    assert fires(DAILY, now=utc(2026, 1, 5, 12), limit=2) == [utc(2026, 1, 2), utc(2026, 1, 3)]
    assert fires(DAILY, now=utc(2026, 1, 5, 12), limit=0) == []


def test_catchup_resumes_after_the_last_run() -> None:
    result = fires(DAILY, last=utc(2026, 1, 3), now=utc(2026, 1, 5, 12))
    assert result == [utc(2026, 1, 4), utc(2026, 1, 5)]


def test_a_fire_exactly_at_now_is_due() -> None:
    assert fires(DAILY, now=utc(2026, 1, 3)) == [utc(2026, 1, 2), utc(2026, 1, 3)]
    assert fires(DAILY, now=utc(2026, 1, 3) - timedelta(microseconds=1)) == [utc(2026, 1, 2)]
    assert fires(DAILY, now=utc(2026, 1, 2)) == [utc(2026, 1, 2)]
    assert fires(DAILY, now=utc(2026, 1, 2) - timedelta(microseconds=1)) == []


def test_without_catchup_only_the_latest_fire_is_due() -> None:
    result = fires(DAILY, now=utc(2026, 1, 5, 12), catchup=False)
    assert result == [utc(2026, 1, 5)]


def test_without_catchup_nothing_is_due_until_the_next_fire() -> None:
    kw: dict[str, Any] = {"now": utc(2026, 1, 5, 12), "catchup": False}
    assert fires(DAILY, last=utc(2026, 1, 5), **kw) == []
    assert fires(DAILY, last=utc(2026, 1, 2), **kw) == [utc(2026, 1, 5)]


@pytest.mark.parametrize("catchup", [True, False])
def test_nothing_is_due_before_the_start_date(catchup: bool) -> None:
    assert fires(DAILY, start=utc(2026, 2, 1), now=utc(2026, 1, 20), catchup=catchup) == []


def test_first_fire_is_the_first_whose_interval_starts_at_or_after_the_start_date() -> None:
    # 01-02 00:00 is the first fire after the start, but it covers [01-01 00:00, 01-02).
    start = utc(2026, 1, 1, 10)
    result = fires(DAILY, start=start, now=utc(2026, 1, 4, 12))
    assert result == [utc(2026, 1, 3), utc(2026, 1, 4)]
    assert data_interval(DAILY, result[0], start) == (utc(2026, 1, 2), utc(2026, 1, 3))
    assert fires(DAILY, start=start, now=utc(2026, 1, 4, 12), catchup=False) == [utc(2026, 1, 4)]
    assert fires(DAILY, start=start, now=utc(2026, 1, 2, 12), catchup=False) == []


def test_end_date_is_respected() -> None:
    end = utc(2026, 1, 3)  # inclusive
    assert fires(DAILY, end=end, now=utc(2026, 2, 1)) == [utc(2026, 1, 2), utc(2026, 1, 3)]
    assert fires(DAILY, end=end, now=utc(2026, 2, 1), catchup=False) == [end]
    assert fires(DAILY, end=end, last=end, now=utc(2026, 2, 1), catchup=False) == []
    assert fires(DAILY, end=end, last=end, now=utc(2026, 2, 1)) == []


@pytest.mark.parametrize("catchup", [True, False])
def test_manual_never_fires(catchup: bool) -> None:
    manual = parse_schedule(None)
    assert fires(manual, now=utc(2030, 1, 1), catchup=catchup) == []
    assert (
        next_fire(manual, start=START, end=None, last=None, now=utc(2030, 1, 1), catchup=catchup)
        is None
    )


def test_cron_in_a_time_zone_with_catchup() -> None:
    spec = parse_schedule("0 6 * * 1-5", "America/New_York")  # weekdays 06:00 EST = 11:00 UTC
    # Friday 01-02 11:00 UTC covers the day before the start; Monday covers [Fri, Mon).
    start = utc(2026, 1, 2)
    result = fires(spec, start=start, now=utc(2026, 1, 7, 12))
    assert result == [utc(2026, 1, 5, 11), utc(2026, 1, 6, 11), utc(2026, 1, 7, 11)]
    assert data_interval(spec, result[0], start) == (utc(2026, 1, 2, 11), utc(2026, 1, 5, 11))


# --- intervals -----------------------------------------------------------------------------

SIX_HOURS = parse_schedule(timedelta(hours=6))


def test_interval_fires_every_period_from_the_start_date() -> None:
    start = utc(2026, 1, 1, 3)
    result = fires(SIX_HOURS, start=start, now=utc(2026, 1, 2, 4))
    assert result == [start + timedelta(hours=6 * k) for k in range(1, 5)]
    assert data_interval(SIX_HOURS, result[0], start) == (start, utc(2026, 1, 1, 9))


def test_interval_without_catchup() -> None:
    start = utc(2026, 1, 1, 3)
    result = fires(SIX_HOURS, start=start, now=utc(2026, 1, 2, 4), catchup=False)
    assert result == [utc(2026, 1, 2, 3)]
    assert fires(SIX_HOURS, start=start, last=utc(2026, 1, 2, 3), now=utc(2026, 1, 2, 4)) == []


def test_interval_respects_end_date_and_limit() -> None:
    start = utc(2026, 1, 1)
    result = fires(SIX_HOURS, start=start, end=utc(2026, 1, 1, 13), now=utc(2026, 3, 1))
    assert result == [utc(2026, 1, 1, 6), utc(2026, 1, 1, 12)]
    limited = fires(SIX_HOURS, start=start, now=utc(2026, 3, 1), limit=7)
    assert limited == [start + timedelta(hours=6 * k) for k in range(1, 8)]


def test_interval_fire_helpers() -> None:
    start = utc(2026, 1, 1)
    assert first_fire_at_or_after(SIX_HOURS, start, utc(2026, 1, 1, 6)) == utc(2026, 1, 1, 6)
    assert first_fire_at_or_after(SIX_HOURS, start, utc(2026, 1, 1, 6, 1)) == utc(2026, 1, 1, 12)
    assert first_fire_at_or_after(SIX_HOURS, start, utc(2025, 1, 1)) == utc(2026, 1, 1, 6)
    assert first_fire_at_or_after(SIX_HOURS, start, start) == utc(2026, 1, 1, 6)
    assert latest_fire_at_or_before(SIX_HOURS, start, utc(2026, 1, 1, 11)) == utc(2026, 1, 1, 6)
    assert latest_fire_at_or_before(SIX_HOURS, start, utc(2026, 1, 1, 6)) == utc(2026, 1, 1, 6)
    before_first = utc(2026, 1, 1, 6) - timedelta(microseconds=1)
    assert latest_fire_at_or_before(SIX_HOURS, start, before_first) is None
    assert latest_fire_at_or_before(SIX_HOURS, start, start) is None
    assert latest_fire_at_or_before(SIX_HOURS, start, utc(2025, 12, 31)) is None


# --- helpers used by the scheduler and the UI ----------------------------------------------


def test_cron_fire_helpers_are_inclusive_or_strict_as_named() -> None:
    at = utc(2026, 1, 3)
    assert first_fire_at_or_after(DAILY, START, at) == at
    assert latest_fire_at_or_before(DAILY, START, at) == at
    assert previous_fire(DAILY, at, START) == utc(2026, 1, 2)
    assert latest_fire_at_or_before(DAILY, START, at - timedelta(seconds=1)) == utc(2026, 1, 2)
    assert latest_fire_at_or_before(DAILY, utc(2026, 1, 3, 1), utc(2026, 1, 3, 5)) is None


def test_data_interval_is_previous_fire_to_fire() -> None:
    assert data_interval(DAILY, utc(2026, 1, 3), START) == (utc(2026, 1, 2), utc(2026, 1, 3))
    fire = utc(2026, 1, 1, 12)
    assert data_interval(SIX_HOURS, fire, START) == (utc(2026, 1, 1, 6), fire)


def test_next_fire_without_catchup_is_the_latest_due_fire_then_the_future() -> None:
    now = utc(2026, 5, 1, 12)
    # Without catchup the latest past fire is due at once (the scheduler creates it now).
    assert next_fire(DAILY, start=START, end=None, last=None, now=now, catchup=False) == utc(
        2026, 5, 1
    )
    last = utc(2026, 1, 2)
    assert next_fire(DAILY, start=START, end=None, last=last, now=now, catchup=False) == utc(
        2026, 5, 1
    )
    last = utc(2026, 5, 1)
    assert next_fire(DAILY, start=START, end=None, last=last, now=now, catchup=False) == utc(
        2026, 5, 2
    )


def test_next_fire_is_none_after_the_end_date() -> None:
    now = utc(2026, 5, 1, 12)
    end = utc(2026, 5, 1, 6)
    last = utc(2026, 5, 1)
    assert next_fire(DAILY, start=START, end=end, last=last, now=now, catchup=False) is None


def test_next_fire_with_catchup_is_the_next_missed_one() -> None:
    now = utc(2026, 5, 1, 12)
    assert next_fire(DAILY, start=START, end=None, last=None, now=now, catchup=True) == utc(
        2026, 1, 2
    )
    last = utc(2026, 1, 2)
    assert next_fire(DAILY, start=START, end=None, last=last, now=now, catchup=True) == utc(
        2026, 1, 3
    )


# --- the first run -------------------------------------------------------------------------

BERLIN_SIX = parse_schedule("0 6 * * *", "Europe/Berlin")
NY_WEEKDAYS = parse_schedule("0 6 * * 1-5", "America/New_York")


@pytest.mark.parametrize(
    ("spec", "start", "first"),
    [
        # An interval schedule's fires are anchored at the start: the first covers one period.
        (SIX_HOURS, utc(2026, 1, 1), utc(2026, 1, 1, 6)),
        (SIX_HOURS, utc(2026, 1, 1, 3, 17), utc(2026, 1, 1, 9, 17)),
        # Cron, start exactly on a fire: that fire covers the day before, so the next one.
        (DAILY, utc(2026, 1, 1), utc(2026, 1, 2)),
        # Cron, start between fires: 01-02 covers [01-01, 01-02), which begins too early.
        (DAILY, utc(2026, 1, 1, 10), utc(2026, 1, 3)),
        (DAILY, utc(2026, 1, 1) + timedelta(microseconds=1), utc(2026, 1, 3)),
        (DAILY, utc(2026, 1, 1) - timedelta(microseconds=1), utc(2026, 1, 2)),
        # Cron in a time zone: 06:00 Berlin is 05:00 UTC in winter, 04:00 UTC in summer.
        (BERLIN_SIX, utc(2026, 3, 1, 5), utc(2026, 3, 2, 5)),  # on a fire
        (BERLIN_SIX, utc(2026, 3, 1), utc(2026, 3, 2, 5)),  # 01:00 Berlin, before the fire
        (BERLIN_SIX, utc(2026, 3, 1, 5, 1), utc(2026, 3, 3, 5)),  # just after the fire
        (BERLIN_SIX, utc(2026, 3, 28, 5), utc(2026, 3, 29, 4)),  # over the spring forward
        # Friday's fire is the start; the first run is Monday's, covering [Fri, Mon).
        (NY_WEEKDAYS, utc(2026, 1, 2, 11), utc(2026, 1, 5, 11)),
        (NY_WEEKDAYS, utc(2026, 1, 2, 12), utc(2026, 1, 6, 11)),
    ],
)
def test_first_run_is_the_first_fire_whose_interval_starts_at_or_after_the_start(
    spec: ScheduleSpec, start: datetime, first: datetime
) -> None:
    assert first_run(spec, start) == first
    assert first_run(spec, start).tzinfo is UTC
    begin, end = data_interval(spec, first, start)
    assert end == first and begin >= start
    # The fire before it would cover time before the start, so it is not a run.
    assert data_interval(spec, previous_fire(spec, first, start), start)[0] < start
    # Every view of the schedule agrees on it.
    assert first_fire_at_or_after(spec, start, start) == first
    assert latest_fire_at_or_before(spec, start, first - timedelta(microseconds=1)) is None
    assert latest_fire_at_or_before(spec, start, first) == first
    just_before = first - timedelta(microseconds=1)
    for catchup in (True, False):
        assert fires(spec, start=start, now=just_before, catchup=catchup) == []
        assert fires(spec, start=start, now=first, catchup=catchup) == [first]
        kw: dict[str, Any] = {"start": start, "end": None, "last": None, "catchup": catchup}
        assert next_fire(spec, now=start, **kw) == first


def test_first_run_in_a_time_zone_follows_local_midnight() -> None:
    # Daily at midnight Berlin, starting at midnight Berlin (23:00 UTC the day before).
    spec = parse_schedule("@daily", "Europe/Berlin")
    start = datetime(2026, 1, 1, tzinfo=BERLIN).astimezone(UTC)
    assert first_run(spec, start) == utc(2026, 1, 1, 23)  # 01-02 00:00 Berlin
    assert data_interval(spec, first_run(spec, start), start) == (start, utc(2026, 1, 1, 23))


@pytest.mark.parametrize(
    ("spec", "start"),
    [
        (DAILY, START),
        (DAILY, utc(2026, 1, 1, 10)),
        (SIX_HOURS, utc(2026, 1, 1, 3, 17)),
        (BERLIN_SIX, utc(2026, 3, 20, 5)),  # through the spring forward
        (BERLIN_SIX, utc(2026, 10, 20, 12)),  # through the fall back
        (parse_schedule("30 * * * *", "Europe/Berlin"), utc(2026, 10, 24, 23, 45)),
        (NY_WEEKDAYS, utc(2026, 1, 2, 11)),
        (parse_schedule("@monthly", "Asia/Tokyo"), utc(2026, 1, 15)),
        # The second 02:30 of the fall-back night (CET): cronsim's 02:30 CEST lies before it.
        (parse_schedule("30 2 * * *", "Europe/Berlin"), utc(2026, 10, 25, 1, 30)),
    ],
)
def test_no_scheduled_run_covers_time_before_the_start_date(
    spec: ScheduleSpec, start: datetime
) -> None:
    result = fires(spec, start=start, now=start + timedelta(days=100), limit=500)
    assert len(result) >= 2 and result[0] == first_run(spec, start)
    intervals = [data_interval(spec, fire, start) for fire in result]
    assert all(begin >= start for begin, _ in intervals)
    # The intervals tile time from the first run on: each begins where the one before ended.
    assert all(a[1] == b[0] for a, b in pairwise(intervals))
