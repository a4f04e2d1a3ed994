"""Several schedulers (ADR 0019): a scheduler judges only the attempts it supervises; those it
adopted from a lost scheduler are judged from their adoption, as after a restart, and by their
heartbeats alone when its executor cannot see their worker (another host's process)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from planner_builders import at, build_spec, make_run, ref, snapshot

from brisa.core.planner import Action, Limits, Relaunch, SetTaskState, plan
from brisa.core.records import RunRecord
from brisa.core.spec import DagSpec
from brisa.core.states import TaskState

T = TaskState
LIMITS = Limits(heartbeat_timeout=30, queued_timeout=120, relaunch_after=5)


def one_task(state: TaskState, **fields: Any) -> tuple[DagSpec, RunRecord]:
    spec = build_spec(tasks=("a",))
    return spec, make_run(spec, tasks={"a": {"state": state, "try_number": 1, **fields}})


def plan_with(now: float, spec: DagSpec, run: RunRecord, **ownership: Any) -> list[Action]:
    base = snapshot(at(now), [run], spec=spec, limits=LIMITS, judging_since=at(0))
    return plan(replace(base, **ownership))


def failures(actions: list[Action]) -> list[str | None]:
    return [a.error for a in actions if isinstance(a, SetTaskState)]


def test_another_schedulers_attempts_are_not_judged_here() -> None:
    spec, run = one_task(T.RUNNING, start_date=at(0), heartbeat_at=at(0), queued_at=at(0))
    ti = run.tasks["a"].id
    # Its worker is not this executor's and its heartbeat is old: not ours to judge.
    assert plan_with(100, spec, run, others=frozenset({ti})) == []
    assert failures(plan_with(100, spec, run)) == [
        "worker lost: its process ended without reporting a result"
    ]
    spec, queued = one_task(T.QUEUED, queued_at=at(0))
    assert plan_with(500, spec, queued, others=frozenset({queued.tasks["a"].id})) == []


def test_an_adopted_running_attempt_is_judged_from_its_adoption() -> None:
    spec, run = one_task(T.RUNNING, start_date=at(0), heartbeat_at=at(0), queued_at=at(0))
    ti = run.tasks["a"].id
    adopted = {"adopted": {ti: at(100)}, "unseen": frozenset({ti})}
    # The old owner died at 20; the worker's last heartbeat reached the API at 0. From the
    # adoption at 100 on it has heartbeat_timeout to be heard.
    assert plan_with(120, spec, run, **adopted) == []
    assert failures(plan_with(131, spec, run, **adopted)) == ["worker lost: no heartbeat for 30s"]


def test_an_adopted_worker_this_executor_cannot_see_is_judged_by_heartbeats_only() -> None:
    spec, run = one_task(T.RUNNING, start_date=at(0), heartbeat_at=at(95), queued_at=at(0))
    ti = run.tasks["a"].id
    seen = plan_with(100, spec, run, adopted={ti: at(100)})
    assert failures(seen) == ["worker lost: its process ended without reporting a result"]
    unseen = plan_with(100, spec, run, adopted={ti: at(100)}, unseen=frozenset({ti}))
    assert unseen == []


def test_an_adopted_queued_attempt_whose_worker_is_not_seen_is_launched_again() -> None:
    """The lost scheduler may have died before launching it: it is relaunched (with a new
    token, so a worker launched after all is refused), and its start timeout counts from the
    adoption."""
    spec, run = one_task(T.QUEUED, queued_at=at(0))
    ti = run.tasks["a"].id
    actions = plan_with(200, spec, run, adopted={ti: at(150)})
    assert actions == [Relaunch(ref(run, "a"), None)]
    timed_out = plan_with(271, spec, run, adopted={ti: at(150)})
    assert failures(timed_out) == ["worker never started within 120s"]
