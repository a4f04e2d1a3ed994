"""Every state change the store makes, walked pair by pair against the transition tables.

For each verb that moves a task instance or a run and each (from, to) pair the verb can
express, the row is first put in `from` through the store's own verbs, then the verb is tried.
The store must allow exactly what `brisa.core.states` allows, within the verb's scope (a worker
finishes only a running attempt; clearing or marking reopens only a finished run). A refused
move answers as the verb's contract says (False, Conflict, or the task left out of the result)
and leaves the row, its attempts and its return value as they were.

Each test walks all pairs of one verb in one database (a run per pair) and reports every
mismatch at once. Runs on SQLite and PostgreSQL through the `store` fixture.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.records import AttemptRef, RunRecord, TaskRecord
from brisa.core.states import (
    ATTEMPT_OUTCOMES,
    FINISHED_RUN_STATES,
    MARK_TARGETS,
    RunState,
    TaskState,
    run_sources,
    task_sources,
)
from brisa.errors import Conflict
from brisa.store import Store

R, T = RunState, TaskState
TEAM = "data"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)

# How each task state is reached from a new run's pending task, one store verb per step.
TASK_PATHS: dict[TaskState, list[TaskState]] = {
    T.PENDING: [],
    T.QUEUED: [T.QUEUED],
    T.RUNNING: [T.QUEUED, T.RUNNING],
    T.UP_FOR_RETRY: [T.QUEUED, T.RUNNING, T.UP_FOR_RETRY],
    T.SUCCESS: [T.QUEUED, T.RUNNING, T.SUCCESS],
    T.FAILED: [T.QUEUED, T.RUNNING, T.FAILED],
    T.UPSTREAM_FAILED: [T.UPSTREAM_FAILED],
    T.SKIPPED: [T.SKIPPED],
    T.CANCELLED: [T.QUEUED, T.CANCELLED],
}
RUN_PATHS: dict[RunState, list[RunState]] = {
    R.QUEUED: [],
    R.RUNNING: [R.RUNNING],
    R.SUCCESS: [R.RUNNING, R.SUCCESS],
    R.FAILED: [R.RUNNING, R.FAILED],
    R.CANCELLED: [R.CANCELLED],
}


class Runs:
    """New runs of a one-task DAG, with their task put in a chosen state through store verbs."""

    def __init__(self, store: Store) -> None:
        with DAG("guards") as dag:
            shell("t", "true")
        spec = serialize(dag, "guards.py")
        self.store = store
        self.version_id = store.publish_dag(
            TEAM, spec, fileloc="guards.py", code_version="c1", now=NOW
        )
        self.numbers = itertools.count()

    def new(self, run_state: RunState = R.RUNNING, task_state: TaskState = T.PENDING) -> RunRecord:
        run = self.store.create_run(
            team=TEAM,
            dag_id="guards",
            version_id=self.version_id,
            run_id=f"r{next(self.numbers)}",
            run_type="manual",
            logical_date=NOW,
            interval=(NOW, NOW),
            conf={},
            task_ids=["t"],
            now=NOW,
        )
        for run_to in RUN_PATHS[run_state]:
            assert self.store.set_run_state(run.id, run_to, NOW), f"setup: run to {run_to}"
        ti = run.tasks["t"]
        for to in TASK_PATHS[task_state]:
            assert self._step(ti, to), f"setup: task {ti.state} to {to}"
            try_number = ti.try_number + 1 if to is T.QUEUED else ti.try_number
            ti = dataclasses.replace(ti, state=to, try_number=try_number)
        run = self.store.get_run_by_pk(run.id)
        assert (run.state, run.tasks["t"].state) == (run_state, task_state)
        return run

    def task(self, run: RunRecord) -> TaskRecord:
        return self.store.tasks_by_id([run.tasks["t"].id])[run.tasks["t"].id]

    def _step(self, ti: TaskRecord, to: TaskState) -> bool:
        ref = AttemptRef(ti.id, ti.try_number)
        if to is T.QUEUED:
            return self.store.queue_task(
                ti.id, expected=ti.state, try_number=ti.try_number, now=NOW
            )
        if to is T.RUNNING:
            return self.store.start_attempt(ref, hostname="w1", pid=1, now=NOW).task_id == "t"
        if ti.state is T.RUNNING:
            return self.store.finish_attempt(ref, to, now=NOW, return_value=1, error="e")
        return self.store.set_task_state(
            ti.id, to, expected=ti.state, try_number=ti.try_number, now=NOW
        )

    def snapshot(self, run: RunRecord) -> tuple[Any, ...]:
        """Everything a task move may write: the task row, its attempts, its return value."""
        ti = self.task(run)
        return ti, self.store.list_attempts(ti.id), self.store.return_value(ti.id)


# A task verb: (store, run, its task, target state) -> whether the verb reports a move.
TaskVerb = Callable[[Store, RunRecord, TaskRecord, TaskState], bool]


def _set_task_state(store: Store, run: RunRecord, ti: TaskRecord, to: TaskState) -> bool:
    return store.set_task_state(ti.id, to, expected=ti.state, try_number=ti.try_number, now=LATER)


def _queue_task(store: Store, run: RunRecord, ti: TaskRecord, to: TaskState) -> bool:
    return store.queue_task(ti.id, expected=ti.state, try_number=ti.try_number, now=LATER)


def _start_attempt(store: Store, run: RunRecord, ti: TaskRecord, to: TaskState) -> bool:
    # Another worker than the setup's: the same one may repeat a start it lost the answer to.
    try:
        store.start_attempt(AttemptRef(ti.id, ti.try_number), hostname="w2", pid=2, now=LATER)
    except Conflict:
        return False
    return True


def _finish_attempt(store: Store, run: RunRecord, ti: TaskRecord, to: TaskState) -> bool:
    ref = AttemptRef(ti.id, ti.try_number)
    return store.finish_attempt(ref, to, now=LATER, return_value=2, error="late")


def _mark_tasks(store: Store, run: RunRecord, ti: TaskRecord, to: TaskState) -> bool:
    return store.mark_tasks(run, ["t"], to, LATER) == ["t"]


def _clear_tasks(store: Store, run: RunRecord, ti: TaskRecord, to: TaskState) -> bool:
    store.clear_tasks(run, ["t"], LATER)  # answers with the ids asked for, moved or not
    return store.tasks_by_id([ti.id])[ti.id] != ti


def _cancel_run(store: Store, run: RunRecord, ti: TaskRecord, to: TaskState) -> bool:
    assert store.cancel_run(run, LATER)  # the run is running: its cancel always takes
    return store.tasks_by_id([ti.id])[ti.id] != ti


ALL_TASK_STATES = frozenset(TaskState)
# verb, the targets it can express, the states it is meant to move from.
TASK_VERBS: dict[str, tuple[TaskVerb, Collection[TaskState], Collection[TaskState]]] = {
    "set_task_state": (_set_task_state, list(TaskState), ALL_TASK_STATES),
    "queue_task": (_queue_task, [T.QUEUED], ALL_TASK_STATES),
    "start_attempt": (_start_attempt, [T.RUNNING], ALL_TASK_STATES),
    "finish_attempt": (_finish_attempt, sorted(ATTEMPT_OUTCOMES), {T.RUNNING}),
    "mark_tasks": (_mark_tasks, sorted(MARK_TARGETS), ALL_TASK_STATES),
    "clear_tasks": (_clear_tasks, [T.PENDING], ALL_TASK_STATES),
    "cancel_run": (_cancel_run, [T.CANCELLED], ALL_TASK_STATES),
}


def _walk_task_moves(
    runs: Runs, verb: TaskVerb, targets: Collection[TaskState], scope: Collection[TaskState]
) -> list[str]:
    """Try every (from, to) move; describe each way the store disagrees with the table.

    A refused move leaves the row as it was, so the next target is tried on the same task;
    a new run is set up only after a move took effect."""
    problems = []
    for src in TaskState:
        run = None
        for to in targets:
            if run is None:
                run = runs.new(R.RUNNING, src)
                before = runs.snapshot(run)
            allowed = src in task_sources(to) and src in scope
            moved = verb(runs.store, run, before[0], to)
            after = runs.snapshot(run)
            if moved != allowed:
                verdict = "allows" if allowed else "forbids"
                problems.append(f"{src} -> {to}: the table {verdict} it, the store {moved=}")
            elif moved and after[0].state is not to:
                problems.append(f"{src} -> {to}: reported done, the task is {after[0].state}")
            elif not moved and after != before:
                problems.append(f"{src} -> {to}: refused, yet {before} became {after}")
            if moved or after != before:
                run = None
    return problems


@pytest.mark.parametrize("name", list(TASK_VERBS))
def test_task_verbs_move_exactly_what_the_task_table_allows(store: Store, name: str) -> None:
    verb, targets, scope = TASK_VERBS[name]
    problems = _walk_task_moves(Runs(store), verb, targets, scope)
    assert problems == [], f"{name}:\n" + "\n".join(problems)


# A run verb: (store, run, target state) -> whether the verb reports a move.
RunVerb = Callable[[Store, RunRecord, RunState], bool]


def _set_run_state(store: Store, run: RunRecord, to: RunState) -> bool:
    return store.set_run_state(run.id, to, LATER)


def _cancel(store: Store, run: RunRecord, to: RunState) -> bool:
    return store.cancel_run(run, LATER)


def _reopen_by_clear(store: Store, run: RunRecord, to: RunState) -> bool:
    store.clear_tasks(run, ["t"], LATER)
    return store.get_run_by_pk(run.id).state is not run.state


def _reopen_by_mark(store: Store, run: RunRecord, to: RunState) -> bool:
    assert store.mark_tasks(run, ["t"], T.SUCCESS, LATER) == ["t"]  # pending -> success
    return store.get_run_by_pk(run.id).state is not run.state


ALL_RUN_STATES = frozenset(RunState)
RUN_VERBS: dict[str, tuple[RunVerb, Collection[RunState], Collection[RunState]]] = {
    "set_run_state": (_set_run_state, list(RunState), ALL_RUN_STATES),
    "cancel_run": (_cancel, [R.CANCELLED], ALL_RUN_STATES),
    # Clearing or marking a task reopens a finished run; a queued or running one is left alone.
    "clear_tasks": (_reopen_by_clear, [R.RUNNING], FINISHED_RUN_STATES),
    "mark_tasks": (_reopen_by_mark, [R.RUNNING], FINISHED_RUN_STATES),
}


def _run_row(store: Store, run: RunRecord) -> RunRecord:
    return dataclasses.replace(store.get_run_by_pk(run.id), tasks={})


def _walk_run_moves(
    runs: Runs, verb: RunVerb, targets: Collection[RunState], scope: Collection[RunState]
) -> list[str]:
    """The same walk as _walk_task_moves, over runs."""
    problems = []
    for src in RunState:
        run = None
        for to in targets:
            if run is None:
                run = runs.new(src, T.PENDING)
                before = _run_row(runs.store, run)
            allowed = src in run_sources(to) and src in scope
            moved = verb(runs.store, run, to)
            after = _run_row(runs.store, run)
            if moved != allowed:
                verdict = "allows" if allowed else "forbids"
                problems.append(f"{src} -> {to}: the table {verdict} it, the store {moved=}")
            elif moved and after.state is not to:
                problems.append(f"{src} -> {to}: reported done, the run is {after.state}")
            elif not moved and after != before:
                problems.append(f"{src} -> {to}: refused, yet {before} became {after}")
            if moved or after != before:
                run = None
    return problems


@pytest.mark.parametrize("name", list(RUN_VERBS))
def test_run_verbs_move_exactly_what_the_run_table_allows(store: Store, name: str) -> None:
    verb, targets, scope = RUN_VERBS[name]
    problems = _walk_run_moves(Runs(store), verb, targets, scope)
    assert problems == [], f"{name}:\n" + "\n".join(problems)


def test_a_worker_cannot_report_a_running_attempt_skipped(store: Store) -> None:
    runs = Runs(store)
    run = runs.new(R.RUNNING, T.RUNNING)
    ti = runs.task(run)
    for outcome in (T.SKIPPED, T.UPSTREAM_FAILED):  # not moves the table allows from running
        assert not store.finish_attempt(AttemptRef(ti.id, ti.try_number), outcome, now=LATER)
    assert runs.task(run) == ti
    [attempt] = store.list_attempts(ti.id)
    assert (attempt.state, attempt.end_date) == (T.RUNNING, None)


def test_a_clear_from_a_stale_read_leaves_the_finished_attempt_alone(store: Store) -> None:
    runs = Runs(store)
    seen = runs.new(R.RUNNING, T.RUNNING)  # what the operator's screen shows
    ti = seen.tasks["t"]
    assert store.finish_attempt(AttemptRef(ti.id, ti.try_number), T.SUCCESS, now=NOW)
    store.clear_tasks(seen, ["t"], LATER)  # lost: the task is no longer running
    assert runs.task(seen).state is T.SUCCESS
    [attempt] = store.list_attempts(ti.id)
    assert (attempt.state, attempt.error) == (T.SUCCESS, None)
