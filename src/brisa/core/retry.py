"""Every retry decision: whether a failed try gets another, when, and in which state it waits.

A failure is judged by `failure_outcome` wherever it is seen: a worker reporting a failed try
(`control.execution`) and the scheduler finding a worker lost, timed out or never started
(`planner`). `is_due` says when a task waiting in up_for_retry may be queued again. Tries
count from the task's last clear (`retry_base`), so a cleared task gets its retries afresh.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from brisa.core.records import TaskRecord
from brisa.core.spec import TaskSpec
from brisa.core.states import TaskState

MAX_BACKOFF_SECONDS = 24 * 3600.0


class FailureOutcome(NamedTuple):
    """Where a failed try leaves its task."""

    state: TaskState  # up_for_retry or failed
    next_try_at: datetime | None  # when an up_for_retry task may run again
    error: str


def retry_delay(task: TaskSpec, try_number: int) -> float:
    """Seconds to wait after failed try `try_number` (1-based) before the next one.

    With exponential backoff the delay doubles each try, capped by max_retry_delay (or a day).
    """
    base = float(task.retry_delay or 0.0)
    if not task.retry_exponential_backoff:
        return base
    cap = float(task.max_retry_delay or MAX_BACKOFF_SECONDS)
    # 2**60 seconds outgrows any cap; a bigger exponent would overflow the float.
    exponent = min(max(try_number - 1, 0), 60)
    return min(base * 2.0**exponent, cap)


def can_retry(task: TaskSpec, try_number: int) -> bool:
    """Whether a task that failed on try `try_number` gets another try."""
    return try_number <= int(task.retries or 0)


def tries_since_clear(ti: TaskRecord) -> int:
    """The tries the task has used since it was last cleared (or created)."""
    return ti.try_number - ti.retry_base


def failure_outcome(task: TaskSpec, ti: TaskRecord, now: datetime, error: str) -> FailureOutcome:
    """Failed for good, or up for retry after the task's delay (tries count from the last clear)."""
    tries = tries_since_clear(ti)
    if can_retry(task, tries):
        return FailureOutcome(
            TaskState.UP_FOR_RETRY, now + timedelta(seconds=retry_delay(task, tries)), error
        )
    return FailureOutcome(TaskState.FAILED, None, error)


def is_due(ti: TaskRecord, now: datetime) -> bool:
    """Whether a task up for retry may be queued again at `now`.

    A retry without a time is due at once rather than stuck forever.
    """
    return ti.next_try_at is None or ti.next_try_at <= now
