"""Gantt geometry (web/ui/gantt.py): queued and running segments on one axis, in percent."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from planner_builders import T0

from brisa.core.records import AttemptRecord
from brisa.core.states import TaskState
from brisa.web.ui.gantt import chart


def attempt(try_number: int, queued: int | None, start: int | None, end: int | None,
            state: TaskState = TaskState.SUCCESS) -> AttemptRecord:  # fmt: skip
    def at(s: int | None) -> object:
        return None if s is None else T0 + timedelta(seconds=s)

    return AttemptRecord(1, try_number, state, at(queued), at(start), at(end), None, None, None)  # type: ignore[arg-type]


def test_queued_then_running_segments_in_percent_of_the_span() -> None:
    found = chart(
        ["a", "b"],
        {"a": [attempt(1, 0, 20, 40)], "b": [attempt(1, 40, 50, 100, TaskState.FAILED)]},
        ZoneInfo("UTC"),
        T0 + timedelta(seconds=500),
    )
    (ta, [bar_a]), (tb, [bar_b]) = found.rows
    assert (ta, tb) == ("a", "b")
    assert [(s.kind, s.left, s.width) for s in bar_a.segments] == [
        ("queued", 0, 20),
        ("success", 20, 20),
    ]
    assert [(s.kind, s.left, s.width) for s in bar_b.segments] == [
        ("queued", 40, 10),
        ("failed", 50, 50),
    ]
    assert bar_a.label == "try 1, success, queued 20.0 s, ran 20.0 s"
    assert [t.left for t in found.ticks] == [0, 25, 50, 75, 100]
    assert [t.label for t in found.ticks] == [
        "12:00:00",
        "+25.0 s",
        "+50.0 s",
        "+1 m 15 s",
        "+1 m 40 s",
    ]
    assert found.zone_abbrev == "UTC"


def test_a_running_attempt_runs_to_now_and_never_goes_negative() -> None:
    now = T0 + timedelta(seconds=10)
    found = chart(["a"], {"a": [attempt(1, 5, 2, None, TaskState.RUNNING)]}, ZoneInfo("UTC"), now)
    segments = found.rows[0][1][0].segments
    assert segments[0].kind == "queued" and segments[0].width == 0  # started "before" queued
    assert segments[1].left + segments[1].width == 100


def test_axis_in_the_display_zone_with_its_abbreviation() -> None:
    found = chart(["a"], {"a": [attempt(1, 0, 1, 2)]}, ZoneInfo("Asia/Tokyo"), T0)
    assert found.zone_abbrev == "JST" and found.ticks[0].label == "21:00:00"


def test_nothing_started_is_empty() -> None:
    assert chart(["a"], {"a": [attempt(1, None, None, None)]}, ZoneInfo("UTC"), T0).empty
    assert chart(["a"], {}, ZoneInfo("UTC"), T0).empty
