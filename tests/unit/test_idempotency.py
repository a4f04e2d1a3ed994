"""Idempotency keys of triggers: one run per (team, DAG, key) within the time kept."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from brisa.control.idempotency import IdempotencyKeys
from brisa.errors import InvalidInput


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_same_key_answers_the_first_run_until_it_is_forgotten() -> None:
    clock = Clock()
    keys = IdempotencyKeys(clock, keep_for=timedelta(minutes=5))
    numbers = itertools.count(1)

    def create() -> str:
        return f"run{next(numbers)}"

    assert keys.once("t", "d", "k", create) == "run1"
    assert keys.once("t", "d", "k", create) == "run1"
    assert keys.once("t", "other", "k", create) == "run2"  # keys are per DAG
    clock.now += timedelta(minutes=6)
    assert keys.once("t", "d", "k", create) == "run3"


def test_a_failed_creation_does_not_burn_the_key() -> None:
    keys = IdempotencyKeys(Clock())

    def refuse() -> str:
        raise InvalidInput("bad conf")

    with pytest.raises(InvalidInput):
        keys.once("t", "d", "k", refuse)
    assert keys.once("t", "d", "k", lambda: "fixed") == "fixed"


def test_concurrent_requests_with_one_key_create_one_run() -> None:
    keys = IdempotencyKeys(Clock())
    created: list[str] = []
    answers: list[str] = []

    def create() -> str:
        created.append("x")
        return f"run{len(created)}"

    threads = [
        threading.Thread(target=lambda: answers.append(keys.once("t", "d", "k", create)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert created == ["x"] and answers == ["run1"] * 8


@pytest.mark.parametrize("key", ["", "x" * 201])
def test_empty_or_huge_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput):
        IdempotencyKeys(Clock()).once("t", "d", key, lambda: "r")
