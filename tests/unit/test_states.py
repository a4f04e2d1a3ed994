"""Run and task lifecycles: the transition tables are the only source of truth."""

from __future__ import annotations

import itertools

import pytest

from brisa.core.states import (
    ACTIVE_TASK_STATES,
    FINISHED_RUN_STATES,
    FINISHED_TASK_STATES,
    RUN_TRANSITIONS,
    TASK_TRANSITIONS,
    RunState,
    TaskState,
    mermaid_diagram,
    run_sources,
    run_transition,
    task_sources,
    task_transition,
)
from brisa.errors import Conflict, IllegalTransition

R, T = RunState, TaskState


def test_every_state_has_a_row_in_its_table() -> None:
    assert set(RUN_TRANSITIONS) == set(RunState)
    assert set(TASK_TRANSITIONS) == set(TaskState)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(RunState, RunState)))
def test_every_run_pair_follows_the_table(current: RunState, new: RunState) -> None:
    if new in RUN_TRANSITIONS[current]:
        assert run_transition(current, new) is new
    else:
        with pytest.raises(IllegalTransition, match=f"from {current} to {new}"):
            run_transition(current, new)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(TaskState, TaskState)))
def test_every_task_pair_follows_the_table(current: TaskState, new: TaskState) -> None:
    if new in TASK_TRANSITIONS[current]:
        assert task_transition(current, new) is new
    else:
        with pytest.raises(IllegalTransition, match=f"from {current} to {new}"):
            task_transition(current, new)


def test_the_tables_allow_some_moves_and_forbid_others() -> None:
    # Guards against a table that allows everything (or nothing): the pair walk would pass.
    run_allowed = sum(len(v) for v in RUN_TRANSITIONS.values())
    task_allowed = sum(len(v) for v in TASK_TRANSITIONS.values())
    assert 0 < run_allowed < len(RunState) ** 2
    assert 0 < task_allowed < len(TaskState) ** 2


def test_no_state_moves_to_itself() -> None:
    # A self-move would make a guarded `UPDATE ... WHERE state = :expected` a silent no-op.
    assert all(s not in targets for s, targets in RUN_TRANSITIONS.items())
    assert all(s not in targets for s, targets in TASK_TRANSITIONS.items())


def test_illegal_transition_is_a_conflict() -> None:
    # A lost race must surface as a Conflict to API callers, not as a server error.
    with pytest.raises(Conflict):
        task_transition(T.SUCCESS, T.RUNNING)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (T.PENDING, T.QUEUED),
        (T.QUEUED, T.RUNNING),
        (T.RUNNING, T.SUCCESS),
        (T.RUNNING, T.FAILED),
        (T.RUNNING, T.UP_FOR_RETRY),
        (T.UP_FOR_RETRY, T.QUEUED),
        (T.PENDING, T.UPSTREAM_FAILED),
        (T.PENDING, T.SKIPPED),
        (T.SUCCESS, T.PENDING),  # clear
        (T.RUNNING, T.PENDING),  # clear a running task: its worker is stopped
        (T.FAILED, T.PENDING),  # clear
        (T.FAILED, T.SUCCESS),  # mark success
        (T.SUCCESS, T.FAILED),  # mark failed
        (T.RUNNING, T.CANCELLED),
    ],
)
def test_the_task_lifecycle_users_rely_on(current: TaskState, new: TaskState) -> None:
    assert task_transition(current, new) is new


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (T.PENDING, T.RUNNING),  # must be queued first
        (T.SUCCESS, T.RUNNING),  # a finished attempt never restarts by itself
        (T.FAILED, T.QUEUED),  # only via clear (pending)
        (T.SKIPPED, T.QUEUED),
        (T.UPSTREAM_FAILED, T.RUNNING),
    ],
)
def test_task_moves_that_must_be_refused(current: TaskState, new: TaskState) -> None:
    with pytest.raises(IllegalTransition):
        task_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        (R.QUEUED, R.RUNNING, True),
        (R.RUNNING, R.SUCCESS, True),
        (R.RUNNING, R.FAILED, True),
        (R.SUCCESS, R.RUNNING, True),  # a task of a finished run was cleared
        (R.CANCELLED, R.RUNNING, True),
        (R.RUNNING, R.QUEUED, False),
        (R.CANCELLED, R.SUCCESS, False),
    ],
)
def test_the_run_lifecycle(current: RunState, new: RunState, allowed: bool) -> None:
    assert (new in RUN_TRANSITIONS[current]) is allowed


@pytest.mark.parametrize("new", list(TaskState))
def test_task_sources_are_exactly_the_states_that_may_move_there(new: TaskState) -> None:
    expected = {s for s in TaskState if new in TASK_TRANSITIONS[s]}
    assert task_sources(new) == expected
    for source in TaskState:
        if source in expected:
            task_transition(source, new)
        else:
            with pytest.raises(IllegalTransition):
                task_transition(source, new)


@pytest.mark.parametrize("new", list(RunState))
def test_run_sources_are_exactly_the_states_that_may_move_there(new: RunState) -> None:
    expected = {s for s in RunState if new in RUN_TRANSITIONS[s]}
    assert run_sources(new) == expected
    for source in RunState:
        if source in expected:
            run_transition(source, new)
        else:
            with pytest.raises(IllegalTransition):
                run_transition(source, new)


def test_known_sources() -> None:
    assert task_sources(T.RUNNING) == {T.QUEUED}
    assert task_sources(T.QUEUED) == {T.PENDING, T.UP_FOR_RETRY}
    assert run_sources(R.QUEUED) == frozenset()


def test_finished_and_active_sets() -> None:
    assert {R.SUCCESS, R.FAILED, R.CANCELLED} == FINISHED_RUN_STATES
    assert {
        T.SUCCESS,
        T.FAILED,
        T.UPSTREAM_FAILED,
        T.SKIPPED,
        T.CANCELLED,
    } == FINISHED_TASK_STATES
    assert {T.QUEUED, T.RUNNING} == ACTIVE_TASK_STATES
    assert not FINISHED_TASK_STATES & ACTIVE_TASK_STATES
    # Every finished task can be cleared back to pending.
    assert all(T.PENDING in TASK_TRANSITIONS[s] for s in FINISHED_TASK_STATES)


def test_states_are_their_stored_strings() -> None:
    assert TaskState("up_for_retry") is T.UP_FOR_RETRY
    assert RunState("cancelled") is R.CANCELLED
    assert f"{T.UPSTREAM_FAILED}" == "upstream_failed"


def test_mermaid_diagram_has_one_edge_per_allowed_move() -> None:
    text = mermaid_diagram()
    edges = [line.strip() for line in text.splitlines() if "-->" in line]
    run_edges = sum(len(v) for v in RUN_TRANSITIONS.values())
    task_edges = sum(len(v) for v in TASK_TRANSITIONS.values())
    assert len(edges) == run_edges + task_edges
    assert "up_for_retry --> queued" in edges
    assert text.count("stateDiagram-v2") == 2
