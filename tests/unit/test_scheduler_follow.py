"""Which scheduling passes are followed by another at once (ADR 0026): one that changed
more than the queue. A pass that only queued tasks readied nothing new, so an attempt's
start and end cost one pass, not two."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from brisa.core.planner import CreateRun, QueueTask, SetRunState, SetTaskState
from brisa.core.states import RunState, TaskState
from brisa.scheduler.loop import worth_following

T = TaskState
QUEUE = QueueTask(ti_id=1, expected=T.PENDING, try_number=0, run_pk=1, timeout=None)
RUN = SetRunState(run_pk=1, state=RunState.SUCCESS, expected=RunState.RUNNING)
FAIL = SetTaskState(ti_id=2, expected=T.PENDING, try_number=0, state=T.UPSTREAM_FAILED)
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
CREATE = CreateRun("t", "d", 1, WHEN, (WHEN, WHEN), ("a",), {})


def test_a_pass_that_only_queued_tasks_is_not_followed_at_once() -> None:
    assert not worth_following([QUEUE, QUEUE], [True, True])
    assert not worth_following([], [])


def test_a_pass_that_moved_a_run_or_a_task_or_created_a_run_is_followed() -> None:
    for other in (RUN, FAIL, CREATE):
        assert worth_following([QUEUE, other], [True, True])


def test_only_what_took_effect_counts() -> None:
    assert not worth_following([QUEUE, RUN, FAIL], [True, False, False])


def test_a_run_started_with_all_its_first_tasks_planned_is_not_followed_at_once() -> None:
    # ADR 0037: its ready tasks were queued by the same pass; nothing else is ready.
    start = SetRunState(run_pk=1, state=RunState.RUNNING, expected=RunState.QUEUED)
    assert not worth_following([replace(start, planned=True), QUEUE], [True, True])
    # A run whose start left something to do (a task to settle) is followed.
    assert worth_following([start, QUEUE], [True, True])
