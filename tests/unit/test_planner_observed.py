"""The planner on what an executor observed beyond alive (`core.observations`): endings with
their reasons, container attempts it supervises, waiting reasons, and releases."""

from __future__ import annotations

from typing import Any

import pytest
from planner_builders import at, build_spec, make_run, ref, snapshot

from brisa.core.observations import Ending, Observed, Waiting
from brisa.core.planner import (
    Limits,
    NoteWaiting,
    Relaunch,
    Release,
    SetTaskState,
    StartAttempt,
    plan,
)
from brisa.core.records import AttemptRef, RunRecord
from brisa.core.spec import DagSpec
from brisa.core.states import TaskState

T = TaskState
OOM = Ending(False, "OOMKilled (container base, exit 137, limit 512Mi)", 137)
EVICTED = Ending(False, "infrastructure failure (evicted): low on memory", infrastructure=True)


def one_task(state: TaskState, retries: int = 0, **fields: Any) -> tuple[DagSpec, RunRecord]:
    spec = build_spec(tasks=("a",), retries=retries, retry_delay=5)
    task = {"state": state, "try_number": 1, "queued_at": at(0), **fields}
    if state is T.RUNNING:
        task.setdefault("start_date", at(1))
        task.setdefault("heartbeat_at", at(1))
    return spec, make_run(spec, tasks={"a": task})


def only_task_action(spec: DagSpec, run: RunRecord, **kw: Any) -> Any:
    actions = [
        a
        for a in plan(snapshot(at(10), [run], spec=spec, **kw))
        if a.__class__.__name__ != "SetRunState"
    ]
    assert len(actions) == 1, actions
    return actions[0]


@pytest.mark.parametrize("state", [T.QUEUED, T.RUNNING])
def test_an_ended_attempt_fails_with_the_executors_reason_and_follows_retries(
    state: TaskState,
) -> None:
    spec, run = one_task(state, retries=1)
    observed = Observed(endings={ref(run, "a"): OOM})

    action = only_task_action(spec, run, observed=observed)

    assert isinstance(action, SetTaskState)
    assert (action.expected, action.state) == (state, T.UP_FOR_RETRY)
    assert action.error == OOM.reason
    assert action.retry_base is None  # counts against the task's retries


def test_a_final_ending_is_the_outcome_of_a_container_attempt() -> None:
    spec, run = one_task(T.RUNNING)
    win = Observed(endings={ref(run, "a"): Ending(True, "exit 0", 0, final=True)})
    lose = Observed(endings={ref(run, "a"): Ending(False, "exit code 3", 3, final=True)})

    assert only_task_action(spec, run, observed=win).state is T.SUCCESS
    failed = only_task_action(spec, run, observed=lose)
    assert (failed.state, failed.error) == (T.FAILED, "exit code 3")


def test_a_container_attempts_result_is_its_return_value_within_the_limit() -> None:
    spec, run = one_task(T.RUNNING)
    value = {"rows": 3, "name": "x" * 20}
    ended = Observed(endings={ref(run, "a"): Ending(True, "exit 0", 0, final=True, result=value)})

    stored = only_task_action(spec, run, observed=ended, limits=Limits(max_return_bytes=100))
    assert (stored.state, stored.return_value) == (T.SUCCESS, value)
    over = only_task_action(spec, run, observed=ended, limits=Limits(max_return_bytes=20))
    assert (over.state, over.return_value) == (T.FAILED, None)
    assert over.error == (
        "the container's result (its termination message) is 43 bytes of JSON, over the limit "
        "of 20 bytes ([core] max_return_value_bytes)"
    )


def test_a_worker_pod_that_exited_zero_without_a_report_is_lost() -> None:
    spec, run = one_task(T.RUNNING)
    observed = Observed(endings={ref(run, "a"): Ending(True, "its pod ended (exit 0)", 0)})

    action = only_task_action(spec, run, observed=observed)

    assert action.state is T.FAILED
    assert action.error == "worker lost: its pod ended (exit 0), without reporting a result"


def test_an_infrastructure_failure_does_not_use_up_the_tasks_retries_up_to_a_limit() -> None:
    spec, run = one_task(T.RUNNING, retries=0)
    observed = Observed(endings={ref(run, "a"): EVICTED})

    free = only_task_action(spec, run, observed=observed, limits=Limits(free_infra_retries=2))
    counted = only_task_action(spec, run, observed=observed, limits=Limits(free_infra_retries=0))

    assert (free.state, free.retry_base) == (T.UP_FOR_RETRY, 1)
    assert "without counting against the task's retries" in free.error
    assert (counted.state, counted.retry_base) == (T.FAILED, None)


def test_an_ending_of_a_live_attempt_waits_for_it_to_be_gone() -> None:
    spec, run = one_task(T.RUNNING)
    observed = Observed(endings={ref(run, "a"): OOM})

    actions = plan(snapshot(at(10), [run], spec=spec, alive=[ref(run, "a")], observed=observed))

    assert not [a for a in actions if isinstance(a, SetTaskState)]


def test_a_supervised_container_starts_its_queued_attempt_and_needs_no_heartbeat() -> None:
    spec, run = one_task(T.QUEUED)
    observed = Observed(supervised={ref(run, "a"): "node-1"})
    assert only_task_action(spec, run, alive=[ref(run, "a")], observed=observed) == StartAttempt(
        ref(run, "a"), "node-1"
    )

    spec, run = one_task(T.RUNNING, heartbeat_at=at(0))
    late = snapshot(at(1000), [run], spec=spec, alive=[ref(run, "a")], observed=observed)
    assert plan(late) == []


def test_a_waiting_attempt_shows_why_and_is_not_timed_out_by_the_scheduler() -> None:
    spec, run = one_task(T.QUEUED)
    waiting = Waiting("Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.", at(0))
    observed = Observed(waiting={ref(run, "a"): waiting})

    action = only_task_action(spec, run, alive=[ref(run, "a")], observed=observed)
    assert action == NoteWaiting(ref(run, "a"), waiting.note())
    assert "Insufficient cpu" in action.note

    spec, run = one_task(T.QUEUED, error=waiting.note())
    long_after = snapshot(at(3600), [run], spec=spec, alive=[ref(run, "a")], observed=observed)
    assert plan(long_after) == []  # the executor's pending timeout decides, with its reason


def test_an_attempt_the_executor_refused_to_start_is_launched_again() -> None:
    waiting = Waiting("Forbidden", "exceeded quota: pods=10", at(0))
    spec, run = one_task(T.QUEUED, error=waiting.note())
    observed = Observed(waiting={ref(run, "a"): waiting})

    actions = plan(snapshot(at(3600), [run], spec=spec, observed=observed))

    assert actions == [Relaunch(ref(run, "a"), None)]


def test_a_refused_launch_is_launched_again_only_once_the_executors_backoff_is_over() -> None:
    waiting = Waiting("Forbidden", "exceeded quota (create refused 3 times)", at(0), at(40))
    spec, run = one_task(T.QUEUED, error=waiting.note())
    observed = Observed(waiting={ref(run, "a"): waiting})

    assert plan(snapshot(at(39), [run], spec=spec, observed=observed)) == []
    assert plan(snapshot(at(40), [run], spec=spec, observed=observed)) == [
        Relaunch(ref(run, "a"), None)
    ]


@pytest.mark.parametrize("state", [T.SUCCESS, T.FAILED, T.UP_FOR_RETRY])
def test_an_ending_is_released_once_its_outcome_is_stored(state: TaskState) -> None:
    spec, run = one_task(state)
    observed = Observed(endings={ref(run, "a"): OOM, AttemptRef(999, 1): OOM})

    releases = [
        a
        for a in plan(snapshot(at(10), [run], spec=spec, observed=observed))
        if isinstance(a, Release)
    ]

    assert releases == [Release(ref(run, "a")), Release(AttemptRef(999, 1))]


def test_an_ending_of_an_open_attempt_is_not_released_yet() -> None:
    spec, run = one_task(T.RUNNING)
    observed = Observed(endings={ref(run, "a"): OOM})

    assert not [
        a
        for a in plan(snapshot(at(10), [run], spec=spec, observed=observed))
        if isinstance(a, Release)
    ]
