"""Dry runs of clear, mark and cancel (control/clearing.py): exactly what the command changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from planner_builders import build_spec, dag_record, make_run

from brisa.control.clearing import (
    ClearOptions,
    CommitChoice,
    commit_choice,
    killed,
    plan_cancel,
    plan_clear,
    plan_mark,
)
from brisa.core.states import TaskState
from brisa.errors import InvalidInput

S = TaskState
# a -> b -> c, b -> d; e alone
SPEC = build_spec(tasks=("a", "b", "c", "d", "e"), edges=[("a", "b"), ("b", "c"), ("b", "d")])
UP = {tid: t.upstream for tid, t in SPEC.tasks.items()}
RUN = make_run(
    SPEC,
    tasks={
        "a": {"state": S.SUCCESS, "try_number": 1},
        "b": {"state": S.FAILED, "try_number": 2},
        "c": S.UPSTREAM_FAILED,
        "d": S.SUCCESS,
        "e": {"state": S.RUNNING, "try_number": 1},
    },
)


def moves(changes: list) -> dict[str, tuple[str, str]]:  # type: ignore[type-arg]
    return {c.task_id: (c.state.value, c.new_state.value) for c in changes}


def test_clear_downstream_leaves_succeeded_descendants_unless_asked() -> None:
    plan = plan_clear(RUN, UP, ["b"], ClearOptions(downstream=True, include_succeeded=False))
    assert moves(plan) == {"b": ("failed", "pending"), "c": ("upstream_failed", "pending")}
    everything = plan_clear(RUN, UP, ["b"], ClearOptions(downstream=True))
    assert set(moves(everything)) == {"b", "c", "d"}


def test_clear_upstream_and_only_failed() -> None:
    up = plan_clear(RUN, UP, ["c"], ClearOptions(upstream=True))
    assert set(moves(up)) == {"a", "b", "c"}
    failed = plan_clear(RUN, UP, ["c"], ClearOptions(upstream=True, only_failed=True))
    assert set(moves(failed)) == {"b", "c"}


def test_a_named_succeeded_task_is_cleared_and_a_pending_one_is_not() -> None:
    assert set(moves(plan_clear(RUN, UP, ["d"], ClearOptions(include_succeeded=False)))) == {"d"}
    pending = make_run(SPEC)
    assert plan_clear(pending, UP, ["a"], ClearOptions()) == []


def test_unknown_or_no_tasks_are_invalid() -> None:
    with pytest.raises(InvalidInput, match="no task"):
        plan_clear(RUN, UP, ["zz"], ClearOptions())
    with pytest.raises(InvalidInput, match="at least one"):
        plan_mark(RUN, [], "success")
    with pytest.raises(InvalidInput, match="success or failed"):
        plan_mark(RUN, ["b"], "running")


def test_mark_lists_only_allowed_moves() -> None:
    assert moves(plan_mark(RUN, ["a", "b", "c"], "success")) == {
        "b": ("failed", "success"),
        "c": ("upstream_failed", "success"),
    }
    assert moves(plan_mark(RUN, ["a"], "failed")) == {"a": ("success", "failed")}


def test_cancel_names_the_attempts_it_stops() -> None:
    plan = plan_cancel(RUN)
    assert moves(plan) == {"e": ("running", "cancelled")}
    assert [c.task_id for c in killed(plan)] == ["e"]


def test_marking_success_puts_upstream_failed_descendants_back_to_pending() -> None:
    plan = plan_mark(RUN, ["b"], "success", UP)
    assert moves(plan) == {"b": ("failed", "success"), "c": ("upstream_failed", "pending")}
    assert moves(plan_mark(RUN, ["b"], "failed", UP)) == {}


def test_the_latest_commit_is_offered_only_when_it_differs_and_keeps_the_runs_tasks() -> None:
    run = replace(RUN, code_version="a" * 40, repo="dags")
    same = replace(dag_record(SPEC, version_id=1), code_version="a" * 40)
    assert commit_choice(run, same) == CommitChoice("a" * 40)
    latest = replace(dag_record(SPEC, version_id=2), code_version="b" * 40)
    assert commit_choice(run, latest) == CommitChoice("a" * 40, "b" * 40, 2)
    assert commit_choice(replace(run, code_version=""), latest).latest is None  # a folder
    assert commit_choice(run, replace(latest, repo="other")).latest is None
    grown = build_spec(tasks=("a", "b", "c", "d", "f"))
    choice = commit_choice(run, replace(latest, spec=grown))
    assert choice.latest == "b" * 40
    assert choice.unavailable is not None
    assert "adds f and removes e" in choice.unavailable
