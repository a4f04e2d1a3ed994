"""A scheduler that was paused (SIGSTOP, a frozen VM, a laptop asleep) judges workers only over
the time it has been running again: what it could not hear while it was stopped is not held
against them, as after a restart. A task's own budgets (execution_timeout, dagrun_timeout)
stay wall time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from planner_builders import T0, at, build_spec, make_run, ref, snapshot

from brisa.core.planner import (
    Action,
    Kill,
    Limits,
    Relaunch,
    SetTaskState,
    judging_from,
    plan,
)
from brisa.core.records import AttemptRef, RunRecord
from brisa.core.spec import DagSpec
from brisa.core.states import TaskState

T = TaskState
LIMITS = Limits(heartbeat_timeout=30, queued_timeout=120, relaunch_after=5, exit_grace=10)
RESUMED = 400.0  # the scheduler ran until 105, was stopped, and ran again from 400


def test_a_gap_between_passes_half_a_heartbeat_timeout_longer_than_the_loop_waits_is_a_pause() -> (
    None
):
    since, now = at(0), at(500)

    def judge(gap: float | None, expected: float = 1.0) -> datetime:
        return judging_from(since, gap=gap, expected=expected, now=now, limits=LIMITS)

    assert LIMITS.pause_after == 15
    assert judge(None) == since  # the first pass
    assert judge(16) == since
    assert judge(16.5) == now
    # A loop that polls seldom is not paused whenever it waits.
    assert judge(25, expected=20) == since
    assert judge(36, expected=20) == now


def one_task(state: TaskState, **fields: Any) -> tuple[DagSpec, RunRecord]:
    spec = build_spec(tasks=("a",), execution_timeout=fields.pop("execution_timeout", None))
    return spec, make_run(spec, tasks={"a": {"state": state, "try_number": 1, **fields}})


def plan_at(
    now: float, spec: DagSpec, run: RunRecord, *, alive: bool = True, since: float = RESUMED
) -> list[Action]:
    live = [ref(run, "a")] if alive else []
    return plan(
        snapshot(at(now), [run], spec=spec, alive=live, limits=LIMITS, judging_since=at(since))
    )


def test_after_a_pause_a_running_worker_has_a_full_heartbeat_timeout_from_the_resume() -> None:
    spec, run = one_task(T.RUNNING, queued_at=at(-1), start_date=T0, heartbeat_at=at(100))

    # Its last heartbeat is 300 s old, but it went unheard for 0 s of the scheduler's own time.
    assert plan_at(RESUMED, spec, run) == []
    assert plan_at(RESUMED + 30, spec, run) == []
    (lost,) = plan_at(RESUMED + 31, spec, run)
    assert isinstance(lost, SetTaskState) and lost.kill
    assert lost.error == "worker lost: no heartbeat for 30s"
    # Without the pause, the same heartbeat is long stale.
    assert plan_at(RESUMED, spec, run, since=0) == [lost]


@pytest.mark.parametrize("alive", [True, False])
def test_after_a_pause_a_queued_attempt_has_a_full_queued_timeout_from_the_resume(
    alive: bool,
) -> None:
    spec, run = one_task(T.QUEUED, queued_at=at(100))
    relaunch = [] if alive else [Relaunch(ref(run, "a"), None)]

    # A worker that died meanwhile is launched again at once; none is failed yet.
    assert plan_at(RESUMED, spec, run, alive=alive) == relaunch
    assert plan_at(RESUMED + 120, spec, run, alive=alive) == relaunch
    (failed,) = plan_at(RESUMED + 121, spec, run, alive=alive)
    assert isinstance(failed, SetTaskState) and failed.state is T.FAILED
    assert (failed.error or "").startswith("worker never started within 120s")


def test_after_a_pause_a_finished_tasks_worker_has_its_exit_grace_from_the_resume() -> None:
    spec, run = one_task(T.SUCCESS, end_date=at(100))

    def kills(now: float) -> list[Action]:
        return [a for a in plan_at(now, spec, run) if isinstance(a, Kill)]

    assert kills(RESUMED + 10) == []
    assert kills(RESUMED + 11) == [Kill(AttemptRef(run.tasks["a"].id, 1))]


def test_an_execution_timeout_is_the_tasks_own_budget_in_wall_time_pause_or_not() -> None:
    spec, run = one_task(
        T.RUNNING, queued_at=at(-1), start_date=T0, heartbeat_at=at(100), execution_timeout=60
    )

    (timed_out,) = plan_at(RESUMED, spec, run)
    assert isinstance(timed_out, SetTaskState)
    assert timed_out.error == "timed out after 60s (execution_timeout)"
