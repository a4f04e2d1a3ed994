"""How long a failed task waits, and whether it gets another try."""

from __future__ import annotations

from typing import Any

import pytest

from brisa.core.retry import MAX_BACKOFF_SECONDS, can_retry, retry_delay


@pytest.mark.parametrize("try_number", [1, 2, 5, 30])
def test_fixed_delay_is_the_same_for_every_try(try_number: int) -> None:
    assert retry_delay({"retry_delay": 30.0}, try_number) == 30.0


def test_no_delay_configured_means_retry_at_once() -> None:
    assert retry_delay({}, 1) == 0.0
    assert retry_delay({"retry_delay": None, "retry_exponential_backoff": True}, 3) == 0.0


def test_fixed_delay_ignores_the_cap() -> None:
    assert retry_delay({"retry_delay": 600, "max_retry_delay": 60}, 4) == 600.0


@pytest.mark.parametrize(("try_number", "expected"), [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160)])
def test_exponential_backoff_doubles_each_try(try_number: int, expected: float) -> None:
    task = {"retry_delay": 10, "retry_exponential_backoff": True}
    assert retry_delay(task, try_number) == expected


@pytest.mark.parametrize(("try_number", "expected"), [(3, 40), (4, 60), (5, 60), (50, 60)])
def test_exponential_backoff_is_capped_by_max_retry_delay(try_number: int, expected: float) -> None:
    task = {"retry_delay": 10, "retry_exponential_backoff": True, "max_retry_delay": 60}
    assert retry_delay(task, try_number) == expected


def test_exponential_backoff_without_a_cap_stops_at_a_day() -> None:
    task = {"retry_delay": 60, "retry_exponential_backoff": True, "max_retry_delay": None}
    assert retry_delay(task, 30) == MAX_BACKOFF_SECONDS == 86400.0


def test_huge_try_numbers_do_not_overflow() -> None:
    # Used to raise OverflowError (int too large to convert to float) past try 1024.
    task = {"retry_delay": 10, "retry_exponential_backoff": True, "max_retry_delay": 3600}
    assert retry_delay(task, 5000) == 3600.0


def test_try_number_below_one_is_treated_as_the_first() -> None:
    assert retry_delay({"retry_delay": 10, "retry_exponential_backoff": True}, 0) == 10.0


@pytest.mark.parametrize(
    ("task", "try_number", "expected"),
    [
        ({"retries": 2}, 1, True),
        ({"retries": 2}, 2, True),
        ({"retries": 2}, 3, False),  # retries=2 means three tries in all
        ({"retries": 0}, 1, False),
        ({"retries": None}, 1, False),
        ({}, 1, False),
    ],
)
def test_can_retry(task: dict[str, Any], try_number: int, expected: bool) -> None:
    assert can_retry(task, try_number) is expected
