"""The execution API's hot path checks a worker's token in the write itself (ADR 0026):
`ExecutionService.start_with_token`, `heartbeat_with_token` and `finish_with_token`, which the
REST layer calls, must answer every token exactly as `authenticate` does (Unauthorized for a
token that is not the attempt's current one, Conflict for the right token of an attempt that
is over) and must change nothing for a wrong one. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from test_store import new_run, task_of
from test_store_tokens import queue, service

from brisa.core import tokens
from brisa.core.records import AttemptRef
from brisa.core.states import TaskState
from brisa.errors import Conflict, Unauthorized
from brisa.store import Store

T = TaskState


def test_the_right_token_starts_beats_and_finishes_its_attempt(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    execution = service(store)
    item = execution.start_with_token(ref, token, hostname="w", pid=7)
    assert (item.task_id, item.try_number, item.run_id) == ("extract", ref.try_number, run.run_id)
    assert task_of(store, run, "extract").state is T.RUNNING
    execution.heartbeat_with_token(ref, token)
    state = execution.finish_with_token(ref, token, success=True, return_value={"n": 1})
    assert state is T.SUCCESS and store.return_value(ref.ti_id) == {"n": 1}


def test_a_wrong_token_is_unauthorized_and_changes_nothing(store: Store) -> None:
    run = new_run(store)
    victim, victim_token = queue(store, run, "extract")
    thief, thief_token = queue(store, run, "audit")
    execution = service(store)
    wrong = (
        (victim, thief_token),  # another attempt's token
        (victim, ""),
        (victim, "x" * 43),
        (AttemptRef(victim.ti_id, victim.try_number + 1), victim_token),  # another try
        (AttemptRef(2**31 - 1, 1), thief_token),  # no such task instance
    )
    for ref, token in wrong:
        with pytest.raises(Unauthorized):
            execution.start_with_token(ref, token, hostname="w", pid=7)
    assert task_of(store, run, "extract").state is T.QUEUED
    execution.start_with_token(victim, victim_token, hostname="w", pid=7)
    for ref, token in wrong:
        with pytest.raises(Unauthorized):
            execution.heartbeat_with_token(ref, token)
        for success in (True, False):  # a failure reads the task's retries: not for them
            with pytest.raises(Unauthorized):
                execution.finish_with_token(ref, token, success=success, return_value=9)
    ti = task_of(store, run, "extract")
    assert ti.state is T.RUNNING and store.return_value(ti.id) is None
    execution.authenticate(thief, thief_token)  # the thief's own token still works


def test_a_worker_retrying_its_start_needs_its_token(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    execution = service(store)
    execution.start_with_token(ref, token, hostname="w", pid=7)
    # Its answer lost, the worker asks again: the same item; nobody else gets it.
    assert execution.start_with_token(ref, token, hostname="w", pid=7).task_id == "extract"
    with pytest.raises(Unauthorized):
        execution.start_with_token(ref, "x" * 43, hostname="w", pid=7)
    with pytest.raises(Conflict):  # the right token, another worker
        execution.start_with_token(ref, token, hostname="w", pid=8)


def test_the_token_of_an_attempt_that_is_over_gets_a_conflict(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    execution = service(store)
    execution.start_with_token(ref, token, hostname="w", pid=7)
    assert execution.finish_with_token(ref, token, success=False, error="boom") in (
        T.FAILED,
        T.UP_FOR_RETRY,
    )
    with pytest.raises(Conflict):
        execution.start_with_token(ref, token, hostname="w", pid=7)
    with pytest.raises(Conflict):
        execution.heartbeat_with_token(ref, token)
    with pytest.raises(Conflict):
        execution.finish_with_token(ref, token, success=True)


def test_a_replaced_token_cannot_start_the_attempt(store: Store) -> None:
    run = new_run(store)
    ref, first = queue(store, run, "extract")
    again = tokens.issue(ref)
    assert store.set_token(ref, again.digest)  # relaunched before the first worker started
    execution = service(store)
    with pytest.raises(Unauthorized):
        execution.start_with_token(ref, first, hostname="w", pid=7)
    assert task_of(store, run, "extract").state is T.QUEUED
    execution.start_with_token(ref, again.token, hostname="w", pid=8)
