"""Pools in the store: slots claimed in the transaction that queues a task, released in the
one that moves it out of queued or running, resized and deleted without ever starting more
than a pool's slots. Runs on SQLite and PostgreSQL (the `store` fixture); the race test runs
several stores on one PostgreSQL database (`postgres_url`)."""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.pools import DEFAULT_POOL, PoolClaim
from brisa.core.records import AttemptRef, RunRecord, TaskRecord
from brisa.core.states import TaskState
from brisa.errors import Conflict, NotFound
from brisa.store import Store, open_store
from brisa.store.tables import pool_slots, task_instances

T = TaskState
TEAM = "data"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
GPU = PoolClaim(TEAM, "gpu")


class Tasks:
    """Pending tasks of new runs of a DAG of `width` tasks, and the store verbs on them."""

    def __init__(self, store: Store, width: int = 6) -> None:
        with DAG("pooled") as dag:
            for n in range(width):
                shell(f"t{n}", "true")
        self.store = store
        self.version_id = store.publish_dag(
            TEAM, serialize(dag, "pooled.py"), fileloc="pooled.py", code_version="c1", now=NOW
        )
        self.width = width
        self.numbers = itertools.count()

    def run(self) -> RunRecord:
        return self.store.create_run(
            team=TEAM,
            dag_id="pooled",
            version_id=self.version_id,
            run_id=f"r{next(self.numbers)}",
            run_type="manual",
            logical_date=NOW,
            interval=(NOW, NOW),
            conf={},
            task_ids=[f"t{n}" for n in range(self.width)],
            now=NOW,
        )

    def pending(self, count: int) -> list[TaskRecord]:
        run = self.run()
        return [run.tasks[f"t{n}"] for n in range(count)]

    def queue(self, ti: TaskRecord, pool: PoolClaim | None = GPU) -> bool:
        ti = self.now(ti)
        return self.store.queue_task(
            ti.id, expected=ti.state, try_number=ti.try_number, now=NOW, pool=pool
        )

    def now(self, ti: TaskRecord) -> TaskRecord:
        return self.store.tasks_by_id([ti.id])[ti.id]

    def finish(self, ti: TaskRecord, *, by_worker: bool = False) -> None:
        """Start (if queued) and finish `ti`; `by_worker`: as a worker does, with its token
        (on SQLite the execution API's own statements, ADR 0036)."""
        ti = self.now(ti)
        ref = AttemptRef(ti.id, ti.try_number)
        digest = f"{ti.id:064x}" if by_worker else None
        if ti.state is T.QUEUED:
            if digest is not None:
                assert self.store.set_token(ref, digest)
            self.store.start_attempt(ref, hostname="w", pid=1, now=NOW, token_digest=digest)
        done = self.store.finish_attempt(
            ref, T.SUCCESS, now=NOW, return_value=None, token_digest=digest
        )
        assert done


def held(store: Store, pool: str = "gpu") -> dict[int, int]:
    """Slots held per task instance, counted in the database."""
    query = (
        sa.select(pool_slots.c.ti_id, sa.func.count())
        .where(pool_slots.c.pool == pool, pool_slots.c.ti_id.is_not(None))
        .group_by(pool_slots.c.ti_id)
    )
    with store.engine.connect() as conn:
        return {int(ti): int(n) for ti, n in conn.execute(query)}


def test_a_task_takes_a_slot_when_queued_and_gives_it_back_when_it_ends(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=2, description="the GPU nodes", now=NOW)
    a, b, c = tasks.pending(3)

    assert tasks.queue(a) and tasks.queue(b)
    assert held(store) == {a.id: 1, b.id: 1}
    assert not tasks.queue(c), "a full pool refuses the third task"
    left = tasks.now(c)
    assert (left.state, left.try_number) == (T.PENDING, 0)
    assert store.list_attempts(c.id) == [], "a refused queue changes nothing"

    tasks.finish(a)
    assert held(store) == {b.id: 1}
    assert tasks.queue(c)
    store.start_attempt(AttemptRef(b.id, 1), hostname="w", pid=1, now=NOW)
    pool = store.get_pool(TEAM, "gpu")
    assert (pool.slots, pool.used, pool.queued, pool.running, pool.open) == (2, 2, 1, 1, 0)
    assert pool.description == "the GPU nodes"


def test_every_way_out_of_queued_or_running_gives_the_slot_back(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=5, description=None, now=NOW)
    cleared, failed, cancelled, marked, retried = tasks.pending(5)
    for ti in (cleared, failed, cancelled, marked, retried):
        assert tasks.queue(ti)
    q = tasks.now(cleared)
    assert store.set_task_state(q.id, T.PENDING, expected=T.QUEUED, try_number=1, now=NOW)
    for ti in (failed, retried):
        store.start_attempt(AttemptRef(ti.id, 1), hostname="w", pid=1, now=NOW)
    assert store.finish_attempt(AttemptRef(failed.id, 1), T.FAILED, now=NOW, error="boom")
    assert store.finish_attempt(AttemptRef(retried.id, 1), T.UP_FOR_RETRY, now=NOW, error="x")
    assert store.set_task_state(cancelled.id, T.CANCELLED, expected=T.QUEUED, try_number=1, now=NOW)
    assert store.set_task_state(marked.id, T.SUCCESS, expected=T.QUEUED, try_number=1, now=NOW)
    assert held(store) == {}
    assert store.get_pool(TEAM, "gpu").open == 5


def test_cancelling_a_run_frees_the_slots_of_all_its_tasks(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=3, description=None, now=NOW)
    run = tasks.run()
    for tid in ("t0", "t1", "t2"):
        assert tasks.queue(run.tasks[tid])
    assert store.cancel_run(store.get_run_by_pk(run.id), NOW)
    assert held(store) == {}


def test_a_task_of_several_slots_takes_them_all_or_none(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=3, description=None, now=NOW)
    big, small, other = tasks.pending(3)
    assert tasks.queue(small)
    assert not tasks.queue(big, PoolClaim(TEAM, "gpu", 3)), "2 free, 3 needed"
    assert held(store) == {small.id: 1}
    assert tasks.queue(big, PoolClaim(TEAM, "gpu", 2))
    assert held(store) == {small.id: 1, big.id: 2}
    assert not tasks.queue(other)
    tasks.finish(big)
    assert held(store) == {small.id: 1}


def test_a_pool_that_does_not_exist_holds_its_tasks_back(store: Store) -> None:
    tasks = Tasks(store)
    (ti,) = tasks.pending(1)
    assert not tasks.queue(ti, PoolClaim(TEAM, "nope"))
    assert tasks.now(ti).state is T.PENDING
    with pytest.raises(NotFound, match="brisa pools set data nope"):
        store.get_pool(TEAM, "nope")


def test_the_default_pool_is_made_on_first_use_with_the_configured_size(store: Store) -> None:
    store.default_pool_slots = 2
    tasks = Tasks(store)
    a, b, c = tasks.pending(3)
    assert store.list_pools(TEAM)[0].configured is False
    assert tasks.queue(a, None) and tasks.queue(b, PoolClaim(TEAM))
    assert not tasks.queue(c, None), "the default pool has 2 slots here"
    assert held(store, DEFAULT_POOL) == {a.id: 1, b.id: 1}

    store.default_pool_slots = 3  # the settings changed; the scheduler syncs when it starts
    assert store.sync_default_pools(NOW) == 1
    assert tasks.queue(c, None)
    store.set_pool(TEAM, DEFAULT_POOL, slots=10, description=None, now=NOW)
    assert store.sync_default_pools(NOW) == 0, "a default pool set by hand keeps its size"
    store.delete_pool(TEAM, DEFAULT_POOL, NOW)
    pool = store.get_pool(TEAM, DEFAULT_POOL)
    assert (pool.slots, pool.configured, pool.used) == (3, False, 3), "back to the settings"


@pytest.mark.parametrize("by_worker", [False, True], ids=["by-store", "by-worker"])
def test_shrinking_below_usage_starts_nothing_new_until_usage_is_under_the_size(
    store: Store, by_worker: bool
) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=3, description=None, now=NOW)
    a, b, c, d = tasks.pending(4)
    for ti in (a, b, c):
        assert tasks.queue(ti)
    store.set_pool(TEAM, "gpu", slots=1, description=None, now=NOW)
    assert store.get_pool(TEAM, "gpu").used == 3, "the running tasks keep their slots"
    for finished in (b, a):  # whichever slot each held, nothing starts while 2 or 1 are in use
        tasks.finish(finished, by_worker=by_worker)
        assert not tasks.queue(d)
    tasks.finish(c, by_worker=by_worker)
    assert tasks.queue(d)
    assert held(store) == {d.id: 1}
    pool = store.get_pool(TEAM, "gpu")
    assert (pool.slots, pool.used, pool.open) == (1, 1, 0)


def test_growing_a_pool_gives_new_slots_at_once(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=1, description=None, now=NOW)
    a, b, c = tasks.pending(3)
    assert tasks.queue(a) and not tasks.queue(b)
    store.set_pool(TEAM, "gpu", slots=3, description=None, now=NOW)
    assert tasks.queue(b) and tasks.queue(c)
    assert store.get_pool(TEAM, "gpu").open == 0


@pytest.mark.parametrize("by_worker", [False, True], ids=["by-store", "by-worker"])
def test_a_deleted_pool_lets_its_tasks_finish_and_starts_no_new_ones(
    store: Store, by_worker: bool
) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=2, description=None, now=NOW)
    a, b = tasks.pending(2)
    assert tasks.queue(a)
    store.delete_pool(TEAM, "gpu", NOW)
    assert not tasks.queue(b)
    assert held(store) == {a.id: 1}, "the running task keeps its slot"
    tasks.finish(a, by_worker=by_worker)
    with store.engine.connect() as conn:
        left = conn.scalar(sa.select(sa.func.count()).where(pool_slots.c.pool == "gpu"))
    assert left == 0
    with pytest.raises(NotFound):
        store.delete_pool(TEAM, "gpu", NOW)


def test_a_relaunch_and_the_start_keep_the_slot(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=1, description=None, now=NOW)
    (ti,) = tasks.pending(1)
    assert tasks.queue(ti)
    assert store.set_token(AttemptRef(ti.id, 1), "f" * 64)
    assert held(store) == {ti.id: 1}
    ref = AttemptRef(ti.id, 1)
    store.start_attempt(ref, hostname="w", pid=1, now=NOW, token_digest="f" * 64)
    assert held(store) == {ti.id: 1}
    assert [h["task_id"] for h in store.pool_holders(TEAM, "gpu")] == ["t0"]


def test_the_planner_sees_every_pool_with_its_free_slots(store: Store) -> None:
    tasks = Tasks(store)
    store.set_pool(TEAM, "gpu", slots=3, description=None, now=NOW)
    a, b = tasks.pending(2)
    assert tasks.queue(a, PoolClaim(TEAM, "gpu", 2))
    assert tasks.queue(b, None)
    book = store.pool_book()
    gpu, default = book.get(TEAM, "gpu"), book.get(TEAM, DEFAULT_POOL)
    assert gpu is not None and (gpu.slots, gpu.used, gpu.open) == (3, 2, 1)
    assert default is not None and default.used == 1
    assert book.get(TEAM, "nope") is None
    assert book.get("other", DEFAULT_POOL) is not None, "a default pool not made yet"


# --- several schedulers racing on one PostgreSQL database -------------------------------------

THREADS = 4
ITERATIONS = 250
SLOTS = 3


def _consistent_usage(engine: sa.Engine, ids: list[int]) -> tuple[int, list[str]]:
    """Slots held in the pool and what is wrong, read in one snapshot of the database."""
    problems = []
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        held_by = dict(
            conn.execute(
                sa.select(pool_slots.c.ti_id, sa.func.count())
                .where(pool_slots.c.pool == "gpu", pool_slots.c.ti_id.is_not(None))
                .group_by(pool_slots.c.ti_id)
            ).all()
        )
        states = dict(
            conn.execute(
                sa.select(task_instances.c.id, task_instances.c.state).where(
                    task_instances.c.id.in_(ids)
                )
            ).all()
        )
        conn.rollback()
    for ti_id, state in states.items():
        holds = held_by.get(ti_id, 0)
        open_attempt = state in (T.QUEUED, T.RUNNING)
        if open_attempt != (holds > 0):
            problems.append(f"task {ti_id} is {state} and holds {holds} slots")
    return sum(held_by.values()), problems


def _one_move(tasks: Tasks, ti_id: int, needs: dict[int, int], rng: random.Random) -> bool:
    """What a scheduler, a worker or an operator does next to a task; True if it queued it."""
    store = tasks.store
    ti = store.tasks_by_id([ti_id])[ti_id]
    if ti.state is T.PENDING:
        return tasks.queue(ti, PoolClaim(TEAM, "gpu", needs[ti.id]))
    if ti.state is T.QUEUED and rng.random() < 0.5:
        with contextlib.suppress(Conflict):  # another one moved it first
            store.start_attempt(AttemptRef(ti.id, ti.try_number), hostname="w", pid=1, now=NOW)
    elif ti.state in (T.QUEUED, T.RUNNING):  # cleared: to run again
        store.set_task_state(ti.id, T.PENDING, expected=ti.state, try_number=ti.try_number, now=NOW)
    return False


def test_several_schedulers_never_oversubscribe_a_pool(postgres_url: str) -> None:
    setup = open_store(postgres_url, migrate=True)
    tasks = Tasks(setup, width=8)
    setup.set_pool(TEAM, "gpu", slots=SLOTS, description=None, now=NOW)
    pending = [ti for _ in range(3) for ti in tasks.pending(8)]
    ids = [ti.id for ti in pending]
    needs = {ti.id: 2 if n % 5 == 0 else 1 for n, ti in enumerate(pending)}
    stop = threading.Event()
    seen: list[int] = []
    problems: list[str] = []
    queued = [0] * THREADS

    def scheduler(number: int) -> None:
        store = open_store(postgres_url)
        mine = Tasks.__new__(Tasks)
        mine.store = store
        rng = random.Random(number)
        try:
            for _ in range(ITERATIONS):
                queued[number] += _one_move(mine, rng.choice(ids), needs, rng)
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            problems.append(f"scheduler {number} failed: {exc!r}")
        finally:
            store.close()

    def monitor() -> None:
        while not stop.is_set():
            usage, wrong = _consistent_usage(setup.engine, ids)
            seen.append(usage)
            problems.extend(wrong)

    watcher = threading.Thread(target=monitor)
    watcher.start()
    workers = [threading.Thread(target=scheduler, args=(n,)) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    watcher.join()
    usage, wrong = _consistent_usage(setup.engine, ids)
    setup.close()

    assert sum(queued) > 50, "the schedulers really queued tasks (a race happened)"
    assert len(seen) > 10
    assert max([*seen, usage]) <= SLOTS, f"the pool held more than {SLOTS} slots: {max(seen)}"
    assert problems + wrong == [], "a slot held without an open attempt, or the reverse"


def test_attempts_open_at_the_upgrade_hold_slots_of_their_default_pool(database_url: str) -> None:
    from alembic import command

    from brisa.store.engine import create_engine
    from brisa.store.migrate import _config, upgrade

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0005")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO dag_versions (id, team, dag_id, structure_hash, code_version, spec,"
                " created_at) VALUES (1, 'data', 'd', 'h', '', '{}', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO dag_runs (id, team, dag_id, run_id, run_type, state, version_id,"
                " logical_date, data_interval_start, data_interval_end, conf, created_at) VALUES"
                " (1, 'data', 'd', 'r', 'manual', 'running', 1, '2026-01-01 00:00:00',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '{}', '2026-01-01 00:00:00')"
            )
        )
        for ti_id, state in ((1, "queued"), (2, "running"), (3, "pending")):
            conn.execute(
                sa.text(
                    "INSERT INTO task_instances (id, run_pk, task_id, state, try_number,"
                    f" retry_base) VALUES ({ti_id}, 1, 't{ti_id}', '{state}', 1, 0)"
                )
            )
    upgrade(engine)
    engine.dispose()
    store = open_store(database_url)
    try:
        assert held(store, DEFAULT_POOL) == {1: 1, 2: 1}
        pool = store.get_pool("data", DEFAULT_POOL)
        assert (pool.slots, pool.used, pool.queued, pool.running) == (128, 2, 1, 1)
        store.set_task_state(2, T.PENDING, expected=T.RUNNING, try_number=1, now=NOW)
        assert held(store, DEFAULT_POOL) == {1: 1}
    finally:
        store.close()
