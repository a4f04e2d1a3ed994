"""The scheduler's incremental view of the active runs (`scheduler.runcache.ActiveRuns`)
equals a full read after every kind of write: runs created, tasks queued in a batch, started,
heartbeating, finished, runs ending, and changes committed out of id order (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from brisa.core.records import AttemptRef
from brisa.core.states import RunState, TaskState
from brisa.scheduler.runcache import ActiveRuns
from brisa.store import Store
from brisa.store.queueing import QueueItem, RunMove
from contract.test_store_pools import NOW, Tasks

T = TaskState


def same(view: ActiveRuns, store: Store) -> None:
    assert view.refresh() == store.active_runs()


def test_the_view_follows_every_write_without_reading_everything(store: Store) -> None:
    tasks = Tasks(store, width=3)
    view = ActiveRuns(store, full_every=3600)
    first = tasks.run()
    same(view, store)
    second = tasks.run()
    same(view, store)
    assert store.set_run_states([RunMove(first.id, RunState.RUNNING, RunState.QUEUED)], NOW)
    same(view, store)
    ti = first.tasks["t0"]
    assert store.queue_tasks([QueueItem(ti.id, T.PENDING, 0, "d", None)], NOW) == {ti.id}
    same(view, store)
    ref = AttemptRef(ti.id, 1)
    store.start_attempt(ref, hostname="w", pid=1, now=NOW, token_digest="d")
    same(view, store)
    assert store.heartbeat(ref, NOW + timedelta(seconds=5)), "no change note: still seen"
    same(view, store)
    assert store.finish_attempt(ref, T.SUCCESS, now=NOW, return_value=None)
    same(view, store)
    assert store.set_run_state(second.id, RunState.FAILED, NOW)
    same(view, store)
    assert [r.id for r in view.refresh()] == [first.id]
    assert view.reads["full"] == 1, "read whole only once"


def test_a_change_committed_after_a_newer_one_is_still_seen(postgres_url: str) -> None:
    from brisa.store import open_store
    from brisa.store.guards import guarded_update
    from brisa.store.tables import dag_runs

    store = open_store(postgres_url, migrate=True)
    try:
        tasks = Tasks(store, width=2)
        early, late = tasks.run(), tasks.run()
        view = ActiveRuns(store, full_every=3600)
        same(view, store)
        with store.engine.connect() as slow:
            with slow.begin():  # takes its change id first, commits last
                where = dag_runs.c.id == early.id
                assert guarded_update(slow, dag_runs, RunState.FAILED, where)
                assert store.set_run_state(late.id, RunState.RUNNING, NOW)
                same(view, store)
            same(view, store)
        assert [r.id for r in view.refresh()] == [late.id]
    finally:
        store.close()


def test_an_open_task_seen_moved_before_its_note_keeps_its_run_whole_until_read_again(
    store: Store,
) -> None:
    from brisa.store.tables import task_instances

    tasks = Tasks(store, width=2)
    run = tasks.run()
    view = ActiveRuns(store, full_every=3600)
    ti = run.tasks["t0"]
    assert store.queue_tasks([QueueItem(ti.id, T.PENDING, 0, "d", None)], NOW) == {ti.id}
    same(view, store)
    before = {r.id: r for r in view.refresh()}[run.id]
    # Its move is committed but its change note is not seen yet (a later commit of an earlier
    # id): written here without one.
    with store.engine.begin() as conn:
        conn.execute(
            task_instances.update().where(task_instances.c.id == ti.id).values(state="running")
        )
    again = {r.id: r for r in view.refresh()}[run.id]
    assert again.tasks["t0"].state is T.QUEUED, "no run half old, half new"
    assert again == before
    same(view, store)  # read whole on the next pass
    assert view.reads["full"] == 1
    assert {r.id: r for r in view.refresh()}[run.id].tasks["t0"].state is T.RUNNING


def test_a_task_move_re_reads_that_task_row_and_its_runs_row_not_every_task(
    store: Store,
) -> None:
    tasks = Tasks(store, width=4)
    run = tasks.run()
    view = ActiveRuns(store, full_every=3600)
    same(view, store)
    whole = view.reads["runs"]
    ti = run.tasks["t1"]
    assert store.queue_tasks([QueueItem(ti.id, T.PENDING, 0, "d", None)], NOW) == {ti.id}
    same(view, store)
    assert view.reads["runs"] == whole, "the run was not read whole"
    assert store.set_run_states([RunMove(run.id, RunState.RUNNING, RunState.QUEUED)], NOW)
    same(view, store)
    assert view.reads["runs"] == whole + 1, "a run move names no task: the run is read whole"
