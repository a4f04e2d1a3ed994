"""Every retry decision: whether a failed try gets another, how long it waits, in which state,
and when a waiting task is due again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from planner_builders import T0, at, build_spec

from brisa.core.records import TaskRecord
from brisa.core.retry import (
    MAX_BACKOFF_SECONDS,
    can_retry,
    failure_outcome,
    is_due,
    retry_delay,
    tries_since_clear,
)
from brisa.core.spec import ShellCommand, TaskSpec
from brisa.core.states import TaskState

T = TaskState


def spec(**fields: Any) -> TaskSpec:
    """A task with these retry fields, the others at their defaults."""
    return TaskSpec("t", ShellCommand("true"), **fields)


@pytest.mark.parametrize("try_number", [1, 2, 5, 30])
def test_fixed_delay_is_the_same_for_every_try(try_number: int) -> None:
    assert retry_delay(spec(retry_delay=30.0), try_number) == 30.0


def test_no_delay_configured_means_retry_at_once() -> None:
    assert retry_delay(spec(), 1) == 0.0
    assert retry_delay(spec(retry_delay=None, retry_exponential_backoff=True), 3) == 0.0


def test_fixed_delay_ignores_the_cap() -> None:
    assert retry_delay(spec(retry_delay=600, max_retry_delay=60), 4) == 600.0


@pytest.mark.parametrize(("try_number", "expected"), [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160)])
def test_exponential_backoff_doubles_each_try(try_number: int, expected: float) -> None:
    task = spec(retry_delay=10, retry_exponential_backoff=True)
    assert retry_delay(task, try_number) == expected


@pytest.mark.parametrize(("try_number", "expected"), [(3, 40), (4, 60), (5, 60), (50, 60)])
def test_exponential_backoff_is_capped_by_max_retry_delay(try_number: int, expected: float) -> None:
    task = spec(retry_delay=10, retry_exponential_backoff=True, max_retry_delay=60)
    assert retry_delay(task, try_number) == expected


def test_exponential_backoff_without_a_cap_stops_at_a_day() -> None:
    task = spec(retry_delay=60, retry_exponential_backoff=True, max_retry_delay=None)
    assert retry_delay(task, 30) == MAX_BACKOFF_SECONDS == 86400.0


def test_huge_try_numbers_do_not_overflow() -> None:
    # Used to raise OverflowError (int too large to convert to float) past try 1024.
    task = spec(retry_delay=10, retry_exponential_backoff=True, max_retry_delay=3600)
    assert retry_delay(task, 5000) == 3600.0


def test_try_number_below_one_is_treated_as_the_first() -> None:
    assert retry_delay(spec(retry_delay=10, retry_exponential_backoff=True), 0) == 10.0


@pytest.mark.parametrize(
    ("task", "try_number", "expected"),
    [
        (spec(retries=2), 1, True),
        (spec(retries=2), 2, True),
        (spec(retries=2), 3, False),  # retries=2 means three tries in all
        (spec(retries=0), 1, False),
        (spec(retries=None), 1, False),
        (spec(), 1, False),
    ],
)
def test_can_retry(task: TaskSpec, try_number: int, expected: bool) -> None:
    assert can_retry(task, try_number) is expected


# --- where a failed try leaves its task ------------------------------------------------------


def ti_at(try_number: int, retry_base: int = 0) -> TaskRecord:
    return TaskRecord(
        id=1, run_pk=1, task_id="a", state=T.RUNNING, try_number=try_number, retry_base=retry_base
    )


def task_spec(**options: Any) -> TaskSpec:
    return build_spec(tasks=("a",), task_options={"a": options}).tasks["a"]


def test_failure_outcome_retries_after_a_fixed_delay_while_tries_remain() -> None:
    spec = task_spec(retries=2, retry_delay=timedelta(seconds=30))

    assert failure_outcome(spec, ti_at(1), T0, "boom") == (T.UP_FOR_RETRY, at(30), "boom")
    assert failure_outcome(spec, ti_at(2), T0, "boom") == (T.UP_FOR_RETRY, at(30), "boom")
    assert failure_outcome(spec, ti_at(3), T0, "boom") == (T.FAILED, None, "boom")


def test_failure_outcome_backs_off_exponentially() -> None:
    spec = task_spec(retries=4, retry_delay=10, retry_exponential_backoff=True, max_retry_delay=60)

    outcomes = [failure_outcome(spec, ti_at(n), T0, "x")[:2] for n in (1, 2, 3, 4, 5)]

    assert outcomes == [
        (T.UP_FOR_RETRY, at(10)),
        (T.UP_FOR_RETRY, at(20)),
        (T.UP_FOR_RETRY, at(40)),
        (T.UP_FOR_RETRY, at(60)),
        (T.FAILED, None),
    ]


def test_failure_outcome_counts_tries_from_the_last_clear() -> None:
    spec = task_spec(retries=1, retry_delay=10, retry_exponential_backoff=True)

    # Cleared after try 5: try 6 is the first of a fresh series, try 7 the last.
    assert failure_outcome(spec, ti_at(6, retry_base=5), T0, "x")[:2] == (T.UP_FOR_RETRY, at(10))
    assert failure_outcome(spec, ti_at(7, retry_base=5), T0, "x")[:2] == (T.FAILED, None)


def test_failure_outcome_without_retries_fails_at_once() -> None:
    assert failure_outcome(task_spec(), ti_at(1), T0, "x") == (T.FAILED, None, "x")


def test_the_outcome_reads_by_name_too() -> None:
    spec = task_spec(retries=1, retry_delay=5)

    outcome = failure_outcome(spec, ti_at(1), T0, "boom")

    assert (outcome.state, outcome.next_try_at, outcome.error) == (T.UP_FOR_RETRY, at(5), "boom")


def test_tries_count_from_the_last_clear() -> None:
    assert tries_since_clear(ti_at(1)) == 1
    assert tries_since_clear(ti_at(7, retry_base=5)) == 2


# --- when a waiting task is due ----------------------------------------------------------------


def waiting(next_try_at: datetime | None) -> TaskRecord:
    return TaskRecord(
        id=1, run_pk=1, task_id="a", state=T.UP_FOR_RETRY, try_number=1, next_try_at=next_try_at
    )


def test_a_retry_is_due_once_its_time_has_come() -> None:
    assert not is_due(waiting(at(30)), at(29.9))
    assert is_due(waiting(at(30)), at(30))
    assert is_due(waiting(at(30)), at(30) + timedelta(days=1))


def test_a_retry_without_a_time_is_due_at_once() -> None:
    assert is_due(waiting(None), T0)
