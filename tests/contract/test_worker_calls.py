"""A worker's start and finish with its token (ADR 0036: one statement each on PostgreSQL, the
start's item read in the move's own RETURNING on SQLite) write everything any move writes:
the task instance, its attempt row, the transition record naming the worker, the change
outbox's topics for the UI's live updates, the pool slot given back; a wrong token writes
none of it. On SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from test_store import TEAM, new_run, task_of
from test_store_tokens import queue, service

from brisa.control.execution import Deferred
from brisa.core.pools import DEFAULT_POOL
from brisa.core.states import TaskState
from brisa.errors import Conflict, Unauthorized
from brisa.repos.config import RepoSettings
from brisa.store import Store
from brisa.store.fencing import Fence, fenced_by

T = TaskState


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The statements sent on the store's engine within the block (BEGIN and COMMIT aside)."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.split()[0].upper() not in ("BEGIN", "COMMIT"):
            sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", count)


def topics_after(store: Store, last: int) -> set[str]:
    return {topic for _, topic in store.changes_after(last)}


def history(store: Store, ti_id: int) -> list[tuple[int, str, str, str]]:
    return [(t.try_number, t.from_state, t.to_state, t.actor) for t in store.task_history(ti_id)]


def test_a_start_and_a_finish_record_what_every_move_records(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    execution = service(store)
    last = store.last_change_id()
    item = execution.start_with_token(ref, token, hostname="w1", pid=42)
    assert (item.task_id, item.try_number, item.run_id, item.params) == (
        "extract",
        ref.try_number,
        run.run_id,
        {"region": "eu"},
    )
    assert item.logical_date == run.logical_date and item.logical_date.tzinfo is not None
    assert (item.team, item.dag_id, item.code_version) == (TEAM, run.dag_id, "c1")
    [attempt] = store.list_attempts(ref.ti_id)
    assert (attempt.state, attempt.hostname, attempt.pid) == ("running", "w1", 42)
    assert attempt.start_date is not None
    moved = {f"run:{run.id}", f"attempt:{ref.ti_id}/{ref.try_number}", "health"}
    assert topics_after(store, last) == moved
    assert [h["ti_id"] for h in store.pool_holders(TEAM, DEFAULT_POOL)] == [ref.ti_id]

    last = store.last_change_id()
    assert execution.finish_with_token(ref, token, success=True, return_value=[1]) is T.SUCCESS
    ti = task_of(store, run, "extract")
    assert (ti.state, store.return_value(ti.id)) == (T.SUCCESS, [1])
    [attempt] = store.list_attempts(ref.ti_id)
    assert attempt.state == "success" and attempt.end_date is not None
    assert topics_after(store, last) == moved
    assert store.pool_holders(TEAM, DEFAULT_POOL) == []  # its slot given back
    assert history(store, ref.ti_id) == [
        (1, "pending", "queued", "unknown"),
        (1, "queued", "running", "worker"),
        (1, "running", "success", "worker"),
    ]


def test_a_failure_is_recorded_with_its_error(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "audit")
    execution = service(store)
    execution.start_with_token(ref, token, hostname="w1", pid=42)
    assert execution.finish_with_token(ref, token, success=False, error="boom") is T.FAILED
    [attempt] = store.list_attempts(ref.ti_id)
    assert (attempt.state, attempt.error) == ("failed", "boom")
    assert history(store, ref.ti_id)[-1] == (1, "running", "failed", "worker")
    assert store.pool_holders(TEAM, DEFAULT_POOL) == []


def test_a_token_acts_for_its_own_attempt_only_and_a_wrong_one_records_nothing(
    store: Store,
) -> None:
    run = new_run(store)
    victim, victim_token = queue(store, run, "extract")
    thief, thief_token = queue(store, run, "audit")
    execution = service(store)
    last, moves = store.last_change_id(), history(store, victim.ti_id)
    with pytest.raises(Unauthorized):
        execution.start_with_token(victim, thief_token, hostname="w", pid=7)
    execution.start_with_token(thief, thief_token, hostname="w", pid=8)  # its own: fine
    with pytest.raises(Unauthorized):
        execution.finish_with_token(victim, thief_token, success=True)
    assert history(store, victim.ti_id) == moves
    assert task_of(store, run, "extract").state is T.QUEUED
    assert f"attempt:{victim.ti_id}/{victim.try_number}" not in topics_after(store, last)
    [attempt] = store.list_attempts(victim.ti_id)
    assert attempt.state == "queued" and attempt.pid is None
    # The victim's own token still starts and finishes it; a repeated finish is a conflict.
    execution.start_with_token(victim, victim_token, hostname="w", pid=9)
    assert execution.finish_with_token(victim, victim_token, success=True) is T.SUCCESS
    with pytest.raises(Conflict):
        execution.finish_with_token(victim, victim_token, success=False)
    assert history(store, victim.ti_id)[-1] == (1, "running", "success", "worker")


def test_a_start_and_a_finish_take_few_statements(store: Store) -> None:
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    # Its repository configured here, as the standalone's DAG folder is: nothing to look up;
    # its DAG's version read once by a first attempt (the store keeps it decoded).
    execution = service(store)
    execution.sources = {"dags": RepoSettings(name="dags", path="/srv/dags")}
    execution.start_with_token(*queue(store, run, "audit"), hostname="w0", pid=1)
    with statements(store) as start:
        execution.start_with_token(ref, token, hostname="w1", pid=42)
    with statements(store) as finish:
        execution.finish_with_token(ref, token, success=True)
    if store.backend == "postgresql":  # the move and everything it records; the slot back
        assert (len(start), len(finish)) == (1, 2)
    else:  # the move (with the item), transition, outbox, attempt row; and the slot back
        assert (len(start), len(finish)) == (4, 5)
    assert not any(s.lstrip().upper().startswith("SELECT") for s in start + finish)


def test_a_call_made_at_once_never_waits_for_another_writer(store: Store) -> None:
    """SQLite: the execution API makes a worker's call on its event loop while the write lock
    is free; while another writer holds it, the call writes nothing and is deferred (to a
    thread, where it waits its turn). PostgreSQL: every call is made in a thread."""
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    execution = service(store)
    if store.backend != "sqlite":
        assert not execution.inline
        return
    assert execution.inline

    def start() -> object:
        return execution.start_with_token(ref, token, hostname="w1", pid=42)

    with store.engine.execution_options(brisa_write=True).connect() as other:
        other.begin()  # BEGIN IMMEDIATE: another writer, e.g. the scheduler
        with pytest.raises(Deferred):
            execution.at_once(start)
        other.rollback()
    assert task_of(store, run, "extract").state is T.QUEUED
    assert history(store, ref.ti_id) == [(1, "pending", "queued", "unknown")]
    execution.at_once(start)  # the lock is free: made at once
    assert task_of(store, run, "extract").state is T.RUNNING
    assert execution.at_once(lambda: execution.finish_with_token(ref, token, success=True)) is (
        T.SUCCESS
    )
    # Waiting writers still wait as long as they did: the connection's timeout is restored.
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_under_a_fence_a_start_and_a_finish_take_the_general_move(store: Store) -> None:
    """A worker's move never runs under a scheduler's fence in the API; should one, it is
    `guarded_update` with the fence's conditions, and answers the same item."""
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    execution = service(store)
    holder = "s1"
    epoch = store.acquire_lease(f"scheduler:{holder}", holder, 60)
    assert epoch is not None
    with fenced_by(Fence(f"scheduler:{holder}", holder, epoch)):
        item = execution.start_with_token(ref, token, hostname="w1", pid=42)
        assert (item.task_id, item.run_id, item.params) == ("extract", run.run_id, {"region": "eu"})
        assert execution.finish_with_token(ref, token, success=True) is T.SUCCESS
    assert history(store, ref.ti_id)[1:] == [
        (1, "queued", "running", "worker"),
        (1, "running", "success", "worker"),
    ]
    assert store.pool_holders(TEAM, DEFAULT_POOL) == []


def test_a_finish_whose_write_fails_writes_nothing(store: Store) -> None:
    """A statement of the call that the database refuses (here: the attempt row, its last)
    fails the call as any store write fails, and undoes the whole move: the task is still
    running, with no transition recorded (SQLite: statements sent on the DB-API cursor)."""
    if store.backend != "sqlite":
        return  # PostgreSQL: one statement (`attemptfold`), failing as a whole
    run = new_run(store)
    ref, token = queue(store, run, "extract")
    execution = service(store)
    execution.start_with_token(ref, token, hostname="w1", pid=42)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_attempts BEFORE UPDATE ON task_attempts "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    with pytest.raises(sa.exc.IntegrityError):
        execution.finish_with_token(ref, token, success=True)
    with pytest.raises(sa.exc.IntegrityError):  # made at once: the same (ADR 0043)
        execution.at_once(lambda: execution.finish_with_token(ref, token, success=True))
    assert task_of(store, run, "extract").state is T.RUNNING
    assert history(store, ref.ti_id)[-1] == (1, "queued", "running", "worker")
    # Nothing of the failed transactions is left open on a pooled connection: the next
    # writers take the lock at once, and the finish goes through once it is allowed.
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse_attempts")
    assert execution.at_once(lambda: execution.finish_with_token(ref, token, success=True)) is (
        T.SUCCESS
    )
    assert history(store, ref.ti_id)[-1] == (1, "running", "success", "worker")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_transaction_that_finds_the_lock_taken_fails_as_sqlalchemy_error(store: Store) -> None:
    """SQLite's BEGIN is sent on the DB-API connection (ADR 0036, s22): a writer that cannot
    take the lock still fails with SQLAlchemy's OperationalError, its connection usable after;
    a reader's BEGIN takes no lock and goes through."""
    if store.backend != "sqlite":
        return
    writes = store.engine.execution_options(brisa_write=True)
    with writes.connect() as holder, writes.connect() as late:
        holder.begin()  # BEGIN IMMEDIATE: the lock is taken
        raw = late.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA busy_timeout=0")
        try:
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                late.begin()
        finally:
            raw.execute("PRAGMA busy_timeout=30000")
        with store.engine.connect() as reader:
            assert reader.exec_driver_sql("SELECT 1").scalar() == 1
        holder.rollback()
    with writes.begin() as conn:  # the lock is free again
        conn.exec_driver_sql("SELECT 1")
