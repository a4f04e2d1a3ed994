"""A run's moves as its Events tab reads them (`Store.run_moves`): newest first, paged by
move id, filtered by task, actor kind and state in SQL, never another run's. Runs on SQLite
and PostgreSQL (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.records import AttemptRef, RunRecord, TransitionRecord
from brisa.core.states import TaskState
from brisa.store import Store
from brisa.store.actors import acting_as

T = TaskState
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def new_run(store: Store, run_id: str) -> RunRecord:
    with DAG("events") as dag:
        shell("extract", "true") >> shell("load", "true")
    spec = serialize(dag, "events.py")
    version = store.publish_dag("data", spec, fileloc="events.py", code_version="c1", now=NOW)
    return store.create_run(
        team="data",
        dag_id="events",
        version_id=version,
        run_id=run_id,
        run_type="manual",
        logical_date=NOW,
        interval=(NOW - timedelta(days=1), NOW),
        conf={},
        task_ids=["extract", "load"],
        now=NOW,
    )


def live_one_try(store: Store, ti_id: int, end: TaskState) -> None:
    """Queued by a scheduler with a lease, run by a worker to `end`."""
    with acting_as("scheduler:h1/42/99", 3):
        assert store.queue_task(ti_id, expected=T.PENDING, try_number=0, now=NOW)
    ref = AttemptRef(ti_id, 1)
    with acting_as("worker"):
        store.start_attempt(ref, hostname="h", pid=1, now=NOW)
        assert store.finish_attempt(ref, end, now=NOW)


def moves(found: list[TransitionRecord]) -> list[tuple[str, str, str, str]]:
    return [(m.task_id, m.from_state, m.to_state, m.actor) for m in found]


def setup(store: Store) -> RunRecord:
    run = new_run(store, "r1")
    other = new_run(store, "r2")
    live_one_try(store, run.tasks["extract"].id, T.FAILED)
    live_one_try(store, other.tasks["extract"].id, T.SUCCESS)  # another run's: never shown
    with acting_as("api"):
        store.clear_tasks(store.get_run_by_pk(run.id), ["extract"], NOW)
    return run


def test_a_run_s_moves_newest_first_with_their_task(store: Store) -> None:
    run = setup(store)
    assert moves(store.run_moves(run.id, limit=50)) == [
        ("extract", "failed", "pending", "api"),
        ("extract", "running", "failed", "worker"),
        ("extract", "queued", "running", "worker"),
        ("extract", "pending", "queued", "scheduler:h1/42/99"),
    ]
    newest = store.run_moves(run.id, limit=1)[0]
    assert (newest.run_pk, newest.try_number, newest.epoch) == (run.id, 1, None)
    assert store.run_moves(run.id, limit=50)[-1].epoch == 3


def test_pages_follow_on_by_move_id_without_gap_or_repeat(store: Store) -> None:
    run = setup(store)
    everything = store.run_moves(run.id, limit=50)
    first = store.run_moves(run.id, limit=3)
    rest = store.run_moves(run.id, limit=3, before=first[-1].id)
    assert first + rest == everything
    assert store.run_moves(run.id, limit=3, before=everything[-1].id) == []


def test_filters_by_task_actor_kind_and_state(store: Store) -> None:
    run = setup(store)
    assert store.run_moves(run.id, limit=50, task_id="load") == []
    assert len(store.run_moves(run.id, limit=50, task_id="extract")) == 4
    assert store.run_moves(run.id, limit=50, task_id="nope") == []
    by_scheduler = store.run_moves(run.id, limit=50, actors=["scheduler"])
    assert moves(by_scheduler) == [("extract", "pending", "queued", "scheduler:h1/42/99")]
    assert [m.actor for m in store.run_moves(run.id, limit=50, actors=["worker", "api"])] == [
        "api",
        "worker",
        "worker",
    ]
    failed = store.run_moves(run.id, limit=50, states=["failed"])
    assert moves(failed) == [("extract", "running", "failed", "worker")]
    both = store.run_moves(run.id, limit=50, actors=["worker"], states=["running"])
    assert moves(both) == [("extract", "queued", "running", "worker")]


def test_the_lone_scheduler_counts_as_a_scheduler(store: Store) -> None:
    run = new_run(store, "r1")
    with acting_as("scheduler"):
        store.queue_task(run.tasks["load"].id, expected=T.PENDING, try_number=0, now=NOW)
    assert [m.actor for m in store.run_moves(run.id, limit=5, actors=["scheduler"])] == [
        "scheduler"
    ]


def test_a_run_s_moves_are_read_through_the_run_index(store: Store) -> None:
    """The read names the run's index (or the task instance's) in its plan, not a scan."""
    run = setup(store)
    if store.backend == "sqlite":
        plan_sql = "EXPLAIN QUERY PLAN SELECT id FROM task_transitions WHERE run_pk = :r "
        plan_sql += "ORDER BY id DESC LIMIT 50"
    else:
        plan_sql = "EXPLAIN SELECT id FROM task_transitions WHERE run_pk = :r "
        plan_sql += "ORDER BY id DESC LIMIT 50"
    with store.engine.connect() as conn:
        if store.backend == "postgresql":
            conn.execute(sa.text("SET enable_seqscan = off"))
        plan = " ".join(str(row) for row in conn.execute(sa.text(plan_sql), {"r": run.id}))
    assert "ix_task_transitions_run" in plan
