"""Execution tokens against the store (ADR 0008), on SQLite and PostgreSQL: a token works for
its attempt while it is queued or running, and for nothing else, ever.

What a worker would notice: the API's answer to its token (through ExecutionService, which
the REST layer calls): Unauthorized (401) for a token that is not the attempt's current one,
Conflict (409) for the right token of an attempt that is over.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_store import LATER, NOW, new_run, task_of

from brisa.control.execution import ExecutionService
from brisa.core import tokens
from brisa.core.planner import Limits, Relaunch
from brisa.core.records import AttemptRef, RunRecord
from brisa.core.states import TaskState
from brisa.errors import Conflict, Unauthorized
from brisa.executor.base import NOTHING, LaunchRequest, Observed
from brisa.scheduler import Scheduler
from brisa.store import Store

T = TaskState


def service(store: Store) -> ExecutionService:
    return ExecutionService(store, lambda: LATER, max_return_bytes=1000)


def queue(store: Store, run: RunRecord, task_id: str) -> tuple[AttemptRef, str]:
    """Queue the task's next try as the scheduler does: with a new token, stored hashed."""
    ti = task_of(store, run, task_id)
    ref = AttemptRef(ti.id, ti.try_number + 1)
    issued = tokens.issue(ref)
    assert store.queue_task(
        ti.id, expected=ti.state, try_number=ti.try_number, now=NOW, token_digest=issued.digest
    )
    return ref, issued.token


def start(store: Store, ref: AttemptRef, token: str, pid: int = 100) -> None:
    execution = service(store)
    execution.start(execution.authenticate(ref, token), hostname="w", pid=pid)


def test_only_the_digest_is_stored_and_the_token_works_for_its_attempt(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    held = store.credential(ref)
    assert held is not None and held.digest == tokens.digest(token, ref) != token
    start(store, ref, token)
    execution = service(store)
    execution.heartbeat(execution.authenticate(ref, token).ref)
    assert execution.finish(execution.authenticate(ref, token).ref, success=True) is T.SUCCESS


def test_a_token_of_another_attempt_or_a_made_up_one_is_unauthorized(store: Store) -> None:
    run = new_run(store)
    victim, _ = queue(store, run, "extract")
    thief, thief_token = queue(store, run, "audit")
    execution = service(store)
    for ref, token in (
        (victim, thief_token),  # another attempt's token
        (victim, ""),
        (victim, "x" * 43),
        (AttemptRef(victim.ti_id, victim.try_number + 1), thief_token),
        (AttemptRef(2**31 - 1, 1), thief_token),  # no such task instance
    ):
        with pytest.raises(Unauthorized):
            execution.authenticate(ref, token)
    assert task_of(store, run, "extract").state is T.QUEUED  # untouched
    execution.authenticate(thief, thief_token)


def test_the_token_of_a_finished_attempt_is_refused(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    start(store, ref, token)
    execution = service(store)
    execution.finish(ref, success=True, return_value=1)
    with pytest.raises(Conflict):
        execution.authenticate(ref, token)
    assert store.return_value(ref.ti_id) == 1


def test_a_new_try_voids_the_token_of_the_previous_one(store: Store) -> None:
    run = new_run(store)
    first, old = queue(store, run, "extract")
    start(store, first, old)
    assert store.finish_attempt(first, T.UP_FOR_RETRY, now=NOW)
    second, new = queue(store, run, "extract")
    execution = service(store)
    for ref in (first, second):
        with pytest.raises(Unauthorized):
            execution.authenticate(ref, old)
    execution.authenticate(second, new)


def test_clearing_or_marking_a_running_attempt_refuses_its_token(store: Store) -> None:
    run = new_run(store)
    cleared, cleared_token = queue(store, run, "extract")
    marked, marked_token = queue(store, run, "audit")
    start(store, cleared, cleared_token)
    start(store, marked, marked_token)
    run = store.get_run_by_pk(run.id)
    store.clear_tasks(run, ["extract"], LATER)
    store.mark_tasks(run, ["audit"], T.FAILED, LATER)
    execution = service(store)
    for ref, token in ((cleared, cleared_token), (marked, marked_token)):
        with pytest.raises(Conflict):
            execution.authenticate(ref, token)


def test_a_relaunch_replaces_the_token_of_a_queued_attempt_only(store: Store) -> None:
    run = new_run(store)
    ref, first = queue(store, run, "extract")
    again = tokens.issue(ref)
    assert store.set_token(ref, again.digest)
    execution = service(store)
    with pytest.raises(Unauthorized):
        execution.authenticate(ref, first)
    start(store, ref, again.token)
    # Running: a relaunch cannot take the attempt from its worker.
    assert not store.set_token(ref, tokens.issue(ref).digest)
    execution.authenticate(ref, again.token)


def test_a_worker_whose_token_was_replaced_after_it_authenticated_cannot_start(
    store: Store,
) -> None:
    run = new_run(store)
    ref, first = queue(store, run, "extract")
    execution = service(store)
    late = execution.authenticate(ref, first)  # a slow worker of an earlier launch ...
    again = tokens.issue(ref)
    assert store.set_token(ref, again.digest)  # ... relaunched meanwhile
    with pytest.raises(Conflict):
        execution.start(late, hostname="w", pid=1)
    start(store, ref, again.token, pid=2)
    assert task_of(store, run, "extract").pid == 2


class CapturingExecutor:
    parallelism = 8

    def __init__(self) -> None:
        self.launched: list[LaunchRequest] = []

    def launch(self, request: LaunchRequest) -> None:
        self.launched.append(request)

    def kill(self, ref: AttemptRef) -> None:
        pass

    def alive(self) -> frozenset[AttemptRef]:
        return frozenset()

    def observe(self) -> Observed:
        return NOTHING

    def release(self, ref: AttemptRef) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_scheduler_hands_each_launch_a_token_only_the_store_can_check(
    store: Store, tmp_path: Path
) -> None:
    """Queueing issues the try's token with it; a relaunch (e.g. by a restarted scheduler,
    which never saw the first token) issues a new one and voids the first."""
    new_run(store)
    executor = CapturingExecutor()
    scheduler = Scheduler(
        store, executor, clock=lambda: LATER, logs_folder=tmp_path, limits=Limits()
    )
    while scheduler.run_once():  # start the run, then queue its first tasks
        pass
    assert executor.launched, "the run's first tasks were launched"
    execution = service(store)
    for request in executor.launched:
        execution.authenticate(request.ref, request.token)
    first = executor.launched[0]
    assert first.token not in str(store.credential(first.ref))

    restarted = Scheduler(
        store, CapturingExecutor(), clock=lambda: LATER, logs_folder=tmp_path, limits=Limits()
    )
    restarted._apply(Relaunch(first.ref, None))
    [again] = restarted.executor.launched  # type: ignore[attr-defined]
    assert again.ref == first.ref and again.token != first.token
    with pytest.raises(Unauthorized):
        execution.authenticate(first.ref, first.token)
    start(store, again.ref, again.token)
    # Running: a relaunch of it now changes nothing, and its worker keeps its token.
    restarted._apply(Relaunch(first.ref, None))
    assert len(restarted.executor.launched) == 1  # type: ignore[attr-defined]
    execution.authenticate(again.ref, again.token)
