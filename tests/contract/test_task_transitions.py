"""The transition record: every move of a task instance is in `task_transitions`, with the
state it really came from, its try, who moved it and the database's time, written in the
transaction of the move. Runs on SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.records import AttemptRef, RunRecord
from brisa.core.states import TASK_TRANSITIONS, TaskState
from brisa.errors import Conflict
from brisa.store import Store, open_store
from brisa.store.actors import acting_as, current
from brisa.store.tables import dag_runs

T = TaskState
TEAM = "data"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def new_run(store: Store, run_id: str = "r1", tasks: int = 3) -> RunRecord:
    with DAG("moves") as dag:
        for n in range(tasks):
            shell(f"t{n}", "true")
    spec = serialize(dag, "moves.py")
    version = store.publish_dag(TEAM, spec, fileloc="moves.py", code_version="c1", now=NOW)
    return store.create_run(
        team=TEAM,
        dag_id="moves",
        version_id=version,
        run_id=run_id,
        run_type="manual",
        logical_date=NOW,
        interval=(NOW - timedelta(days=1), NOW),
        conf={},
        task_ids=[f"t{n}" for n in range(tasks)],
        now=NOW,
        code_version="c1",
    )


def queue(store: Store, ti_id: int) -> AttemptRef:
    assert store.queue_task(ti_id, expected=T.PENDING, try_number=0, now=NOW)
    return AttemptRef(ti_id, 1)


def moves(store: Store, ti_id: int) -> list[tuple[int, str, str, str, int | None]]:
    return [
        (t.try_number, t.from_state, t.to_state, t.actor, t.epoch)
        for t in store.task_history(ti_id)
    ]


def test_an_attempt_s_life_is_recorded_with_who_moved_it(store: Store) -> None:
    ti = new_run(store).tasks["t0"]
    before = datetime.now(UTC) - timedelta(minutes=1)
    with acting_as("scheduler:s1", 7):
        ref = queue(store, ti.id)
    with acting_as("worker"):
        store.start_attempt(ref, hostname="h", pid=1, now=NOW)
        assert store.finish_attempt(ref, T.FAILED, now=NOW)
    with acting_as("api"):
        store.clear_tasks(store.get_run_by_pk(ti.run_pk), ["t0"], NOW)
    assert moves(store, ti.id) == [
        (1, "pending", "queued", "scheduler:s1", 7),
        (1, "queued", "running", "worker", None),
        (1, "running", "failed", "worker", None),
        (1, "failed", "pending", "api", None),
    ]
    # Database time, not the caller's clock (NOW is in the past).
    assert all(t.at > before for t in store.task_history(ti.id))
    assert current() == ("unknown", None)


def test_a_refused_move_records_nothing(store: Store) -> None:
    ti = new_run(store).tasks["t0"]
    ref = queue(store, ti.id)
    assert not store.finish_attempt(ref, T.SUCCESS, now=NOW)  # queued: not running yet
    assert not store.queue_task(ti.id, expected=T.PENDING, try_number=0, now=NOW)  # lost race
    assert moves(store, ti.id) == [(1, "pending", "queued", "unknown", None)]


def test_cancelling_a_run_records_the_state_each_task_really_left(store: Store) -> None:
    run = new_run(store)
    queue(store, run.tasks["t1"].id)
    store.start_attempt(queue(store, run.tasks["t2"].id), hostname="h", pid=1, now=NOW)
    assert store.cancel_run(store.get_run_by_pk(run.id), NOW)
    left = {tid: moves(store, ti.id)[-1][:3] for tid, ti in run.tasks.items()}
    assert left == {
        "t0": (0, "pending", "cancelled"),
        "t1": (1, "queued", "cancelled"),
        "t2": (1, "running", "cancelled"),
    }


def test_deleting_a_run_deletes_its_history(store: Store) -> None:
    run = new_run(store)
    queue(store, run.tasks["t0"].id)
    with store.engine.begin() as conn:
        conn.execute(dag_runs.delete().where(dag_runs.c.id == run.id))
    assert store.transitions_after(0) == []


@pytest.mark.postgres
def test_racing_moves_record_an_unbroken_legal_chain(postgres_url: str) -> None:
    """Workers start and finish attempts while another thread cancels their runs (the
    several-source move) on READ COMMITTED: each recorded move starts where the previous one
    ended, and every move is one the table allows."""
    store = open_store(postgres_url, migrate=True, default_pool_slots=1000)  # no pool limit
    try:
        runs = [new_run(store, f"r{n}", tasks=8) for n in range(20)]
        refs = [queue(store, ti.id) for run in runs for ti in run.tasks.values()]
        barrier = threading.Barrier(3)

        def work(mine: list[AttemptRef]) -> None:
            barrier.wait()
            for ref in mine:
                try:
                    store.start_attempt(ref, hostname="h", pid=1, now=NOW)
                except Conflict:  # cancelled first: no longer current
                    continue
                store.finish_attempt(ref, T.SUCCESS, now=NOW)

        def cancel() -> None:  # from the other end, so that they meet half way
            barrier.wait()
            for run in reversed(runs):
                store.cancel_run(store.get_run_by_pk(run.id), NOW)
                time.sleep(0.002)

        threads = [threading.Thread(target=cancel)]
        threads += [threading.Thread(target=work, args=(refs[n::2],)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        history = store.transitions_after(0)
        with store.engine.connect() as conn:
            states = dict(conn.execute(sa.text("SELECT id, state FROM task_instances")).all())
    finally:
        store.close()
    last: dict[int, str] = {}
    for move in history:
        assert move.from_state == last.get(move.ti_id, "pending"), move
        assert T(move.to_state) in TASK_TRANSITIONS[T(move.from_state)], move
        last[move.ti_id] = move.to_state
    assert last == states
    assert {"cancelled", "success"} <= set(last.values())
