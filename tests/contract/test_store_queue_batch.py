"""Batched scheduler writes (`Store.queue_tasks`, `Store.set_run_states`): a pass's queued
tasks in one transaction keep every rule of one-by-one queueing: guarded per task, pools
never oversubscribed, moves recorded with their real previous state, fenced, and each
(task, try) queued once however many schedulers race. SQLite and PostgreSQL (`store`); the
race runs several stores on one PostgreSQL database (`postgres_url`)."""

from __future__ import annotations

import random
import threading

import sqlalchemy as sa

from brisa.core.pools import PoolClaim
from brisa.core.states import RunState, TaskState
from brisa.store import Store, open_store
from brisa.store.fencing import Fence, fenced_by
from brisa.store.queueing import QueueItem, RunMove
from brisa.store.tables import task_attempts, task_instances
from contract.test_store_pools import GPU, NOW, TEAM, Tasks, _consistent_usage, held

T = TaskState


def item(ti_id: int, pool: PoolClaim | None = GPU, digest: str = "d") -> QueueItem:
    return QueueItem(ti_id, T.PENDING, 0, f"{digest}{ti_id}", pool)


def test_a_batch_queues_in_order_what_the_pool_holds_and_nothing_else(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=3, description=None, now=NOW)
    a, b, c, d = tasks.pending(4)
    wide = QueueItem(b.id, T.PENDING, 0, "wide", PoolClaim(TEAM, "gpu", 2))

    queued = store.queue_tasks([item(a.id), wide, item(c.id), item(d.id)], NOW)

    assert queued == {a.id, b.id}, "c does not jump ahead of a claim that did not fit"
    assert held(store) == {a.id: 1, b.id: 2}
    for ti in (c, d):
        left = tasks.now(ti)
        assert (left.state, left.try_number) == (T.PENDING, 0)
        assert store.list_attempts(ti.id) == []
    now_a = tasks.now(a)
    assert (now_a.state, now_a.try_number, now_a.queued_at) == (T.QUEUED, 1, NOW)
    assert [(m.from_state, m.to_state, m.try_number) for m in store.task_history(a.id)] == [
        ("pending", "queued", 1)
    ]
    with store.engine.connect() as conn:
        digests = dict(
            conn.execute(
                sa.select(task_instances.c.id, task_instances.c.token_digest).where(
                    task_instances.c.id.in_([a.id, b.id])
                )
            ).all()
        )
        attempts = conn.execute(sa.select(sa.func.count()).select_from(task_attempts)).scalar()
    assert digests == {a.id: f"d{a.id}", b.id: "wide"}, "each task keeps its own token"
    assert attempts == 2


def test_a_task_that_left_its_state_is_left_out_and_holds_no_slot(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=4, description=None, now=NOW)
    a, b = tasks.pending(2)
    assert tasks.queue(a), "queued by someone else first"

    assert store.queue_tasks([item(a.id), item(b.id)], NOW) == {b.id}
    assert held(store) == {a.id: 1, b.id: 1}
    assert tasks.now(a).try_number == 1, "not queued a second time"


def test_each_task_moves_only_from_its_own_try_and_state(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=4, description=None, now=NOW)
    a, b, c, d = tasks.pending(4)
    batch = [
        item(a.id),
        QueueItem(b.id, T.PENDING, 1, "stale try", GPU),  # it is at try 0
        QueueItem(c.id, T.UP_FOR_RETRY, 0, "wrong state", GPU),  # it is pending
        QueueItem(d.id, T.PENDING, 0, None, GPU),
    ]

    assert store.queue_tasks(batch, NOW) == {a.id, d.id}
    assert held(store) == {a.id: 1, d.id: 1}
    for ti in (b, c):
        left = tasks.now(ti)
        assert (left.state, left.try_number) == (T.PENDING, 0)
    with store.engine.connect() as conn:
        digests = dict(
            conn.execute(sa.select(task_instances.c.id, task_instances.c.token_digest)).all()
        )
    assert (digests[a.id], digests[b.id], digests[c.id], digests[d.id]) == (
        f"d{a.id}",
        None,
        None,
        None,
    ), "each moved task has its own token; the others none"


def test_the_default_pool_is_made_on_first_use(store: Store) -> None:
    tasks = Tasks(store)
    a, b = tasks.pending(2)
    assert store.queue_tasks([item(a.id, None), item(b.id, None)], NOW) == {a.id, b.id}
    assert held(store, "default_pool") == {a.id: 1, b.id: 1}


def test_a_lost_lease_writes_nothing(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=4, description=None, now=NOW)
    a, b = tasks.pending(2)
    with fenced_by(Fence("scheduler:gone", "gone", 7)):
        assert store.queue_tasks([item(a.id), item(b.id)], NOW) == set()
        assert store.set_run_states([RunMove(a.run_pk, RunState.RUNNING)], NOW) == set()
    assert held(store) == {}
    assert tasks.now(a).state is T.PENDING
    assert store.get_run_by_pk(a.run_pk).state is RunState.QUEUED


def test_run_moves_are_guarded_each(store: Store) -> None:
    tasks = Tasks(store)
    first, second = tasks.run(), tasks.run()
    assert store.set_run_state(second.id, RunState.FAILED, NOW)
    moves = [RunMove(r.id, RunState.RUNNING, RunState.QUEUED) for r in (first, second)]
    assert store.set_run_states(moves, NOW) == {first.id}
    assert store.get_run_by_pk(first.id).start_date == NOW
    assert store.get_run_by_pk(second.id).state is RunState.FAILED


def test_a_run_is_finished_only_while_every_task_still_is(store: Store) -> None:
    """A pass that saw every task of a run done may have an old view: a mark or clear since
    gave a task back to pending. Its finishing move then changes nothing (the run stays
    running for the next pass), and goes through once every task is done again."""
    tasks = Tasks(store, width=2)
    run = tasks.run()
    assert store.set_run_states([RunMove(run.id, RunState.RUNNING, RunState.QUEUED)], NOW)
    first, second = run.tasks["t0"], run.tasks["t1"]
    assert store.set_task_state(first.id, T.SKIPPED, expected=T.PENDING, try_number=0, now=NOW)
    finish = [RunMove(run.id, RunState.SUCCESS, RunState.RUNNING)]
    assert store.set_run_states(finish, NOW) == set()
    assert store.get_run_by_pk(run.id).state is RunState.RUNNING
    assert store.set_task_state(second.id, T.SKIPPED, expected=T.PENDING, try_number=0, now=NOW)
    assert store.set_run_states(finish, NOW) == {run.id}
    assert store.get_run_by_pk(run.id).state is RunState.SUCCESS


def test_racing_batches_queue_each_try_once_and_never_oversubscribe(postgres_url: str) -> None:
    setup = open_store(postgres_url, migrate=True)
    tasks = Tasks(setup, width=8)
    setup.set_pool(TEAM, "gpu", slots=6, description=None, now=NOW)
    pending = [ti for _ in range(12) for ti in tasks.pending(8)]
    ids = [ti.id for ti in pending]
    queued: list[set[int]] = [set() for _ in range(3)]
    problems: list[str] = []

    def scheduler(number: int) -> None:
        store = open_store(postgres_url)
        rng = random.Random(number)
        try:
            for _ in range(40):
                batch = rng.sample(ids, 8)
                queued[number] |= store.queue_tasks([item(i) for i in batch], NOW)
                usage, wrong = _consistent_usage(store.engine, ids)
                problems.extend(wrong + ([f"{usage} slots held"] if usage > 6 else []))
                # Free some slots: up to 3 of this scheduler's tasks still queued end (not
                # the same first 3 of the set again, which would free slots only once).
                mine = store.tasks_by_id(list(queued[number]))
                ending = [i for i, ti in sorted(mine.items()) if ti.state is T.QUEUED][:3]
                for ti_id in ending:
                    store.set_task_state(ti_id, T.FAILED, expected=T.QUEUED, try_number=1, now=NOW)
        except Exception as exc:  # noqa: BLE001 - reported below
            problems.append(f"scheduler {number} failed: {exc!r}")
        finally:
            store.close()

    threads = [threading.Thread(target=scheduler, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    setup.close()

    assert problems == []
    assert sum(len(q) for q in queued) > 12, "the schedulers really queued tasks"
    assert len(set().union(*queued)) == sum(len(q) for q in queued), "a try queued twice"


def test_a_pass_moves_its_runs_and_queues_its_tasks_in_one_commit(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=4, description=None, now=NOW)
    a, b = tasks.pending(2)
    other = tasks.run()
    commits: list[object] = []
    sa.event.listen(store.engine, "commit", commits.append)
    moves = [RunMove(r, RunState.RUNNING, RunState.QUEUED) for r in (a.run_pk, other.id)]
    since = store.last_change_id()
    notes: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *e: notes.append(e[2]))

    moved, queued = store.write_pass(moves, [item(a.id), item(b.id)], NOW)

    assert (moved, queued) == ({a.run_pk, other.id}, {a.id, b.id})
    assert len(commits) == 1
    topics = {topic for _, topic in store.changes_after(since)}
    assert {f"run:{a.run_pk}", f"run:{other.id}", f"attempt:{b.id}/1"} <= topics
    assert sum(s.startswith("INSERT INTO changes") for s in notes) == 1, "noted at once"
    assert store.get_run_by_pk(a.run_pk).state is RunState.RUNNING
    assert held(store) == {a.id: 1, b.id: 1}
    with fenced_by(Fence("scheduler:gone", "gone", 7)):
        done = store.write_pass([RunMove(other.id, RunState.SUCCESS)], [item(a.id)], NOW)
    assert done == (set(), set()), "a lost lease moves nothing of the pass"
    assert store.get_run_by_pk(other.id).state is RunState.RUNNING


def test_a_run_that_could_not_start_has_none_of_its_tasks_queued_by_the_pass(store: Store) -> None:
    """A pass starts a queued run and queues its first tasks together; when the run's move
    loses its race (cancelled since the pass looked), those tasks stay as they are, while
    another run's task of the same pass is queued."""
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=4, description=None, now=NOW)
    started, cancelled = tasks.run(), tasks.run()
    assert store.set_run_state(cancelled.id, RunState.FAILED, NOW)
    moves = [RunMove(r.id, RunState.RUNNING, RunState.QUEUED) for r in (started, cancelled)]
    first, stranded = started.tasks["t0"], cancelled.tasks["t0"]
    batch = [
        QueueItem(ti.id, T.PENDING, 0, f"d{ti.id}", GPU, run_pk=ti.run_pk)
        for ti in (first, stranded)
    ]

    assert store.write_pass(moves, batch, NOW) == ({started.id}, {first.id})
    assert tasks.now(first).state is T.QUEUED
    assert (tasks.now(stranded).state, tasks.now(stranded).try_number) == (T.PENDING, 0)
    assert held(store) == {first.id: 1}
    assert store.list_attempts(stranded.id) == []
