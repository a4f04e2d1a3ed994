"""Leases, fencing, adoption and claims (ADR 0019), on SQLite and PostgreSQL.

What a user would notice: a lease has one holder at a time and its epoch grows each time it
changes hands; a scheduler whose lease is lost writes nothing; another scheduler's attempt is
never moved by a fenced writer; a lost scheduler's attempts are adopted, not restarted; two
schedulers racing over the same ready tasks never queue one twice.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.records import AttemptRef
from brisa.core.states import TaskState
from brisa.store import Store, open_store
from brisa.store.fencing import Fence, fenced_by
from brisa.store.tables import leases, task_attempts

T = TaskState
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def expire(store: Store, name: str) -> None:
    """Time passes for lease `name`: it expired a second ago on the database's clock."""
    with store.engine.begin() as conn:
        conn.execute(leases.update().where(leases.c.name == name).values(expires_at=1.0))


def fence_of(store: Store, holder: str, ttl: float = 60) -> Fence:
    epoch = store.acquire_lease(f"scheduler:{holder}", holder, ttl)
    assert epoch is not None
    return Fence(f"scheduler:{holder}", holder, epoch)


def fan_out(store: Store, width: int, run_id: str = "r1") -> list[int]:
    """A run of `width` independent pending tasks; their task instance ids."""
    with DAG("wide", schedule=None) as dag:
        for i in range(width):
            shell(f"t{i:04d}", "true")
    spec = serialize(dag, "wide.py")
    version = store.publish_dag("data", spec, fileloc="wide.py", code_version="c1", now=NOW)
    run = store.create_run(
        team="data", dag_id="wide", version_id=version, run_id=run_id, run_type="manual",
        logical_date=NOW, interval=(NOW, NOW), conf={}, task_ids=list(spec.tasks), now=NOW,
    )  # fmt: skip
    return sorted(ti.id for ti in run.tasks.values())


def queue_one(store: Store, ti_id: int) -> bool:
    return store.queue_task(ti_id, expected=T.PENDING, try_number=0, now=NOW)


# --- leases ------------------------------------------------------------------------------------


def test_a_lease_has_one_holder_and_its_epoch_grows_when_it_changes_hands(store: Store) -> None:
    assert store.acquire_lease("duty", "a", 60) == 1
    assert store.acquire_lease("duty", "a", 60) == 1  # renewed: same epoch
    assert store.acquire_lease("duty", "b", 60) is None  # held by a
    expire(store, "duty")
    assert store.acquire_lease("duty", "b", 60) == 2  # a's expired: b takes it
    assert store.acquire_lease("duty", "a", 60) is None  # a cannot renew what it lost
    assert store.release_lease("duty", "b")
    assert store.acquire_lease("duty", "a", 60) == 3  # given up: taken at once
    expire(store, "duty")
    assert store.acquire_lease("duty", "a", 60) == 4  # its own, but expired: a new epoch
    [row] = store.leases("duty")
    assert (row.holder, row.epoch) == ("a", 4) and 55 < row.expires_in <= 60


def test_a_lease_of_a_holder_known_dead_is_taken_before_it_expires(store: Store) -> None:
    assert store.acquire_lease("scheduler", "host/1/5", 60) == 1
    assert store.acquire_lease("scheduler", "host/2/7", 60) is None
    assert store.acquire_lease("scheduler", "host/2/7", 60, take_from="host/9/9") is None
    assert store.acquire_lease("scheduler", "host/2/7", 60, take_from="host/1/5") == 2


# --- fencing -----------------------------------------------------------------------------------


def test_a_queue_under_a_live_lease_is_owned_by_the_scheduler(store: Store) -> None:
    [ti] = fan_out(store, 1)
    fence = fence_of(store, "s1")
    with fenced_by(fence):
        assert queue_one(store, ti)
    task = store.tasks_by_id([ti])[ti]
    assert (task.state, task.owner, task.owner_epoch) == (T.QUEUED, "s1", fence.epoch)


def test_a_scheduler_whose_lease_is_lost_writes_nothing(store: Store) -> None:
    first, second = fan_out(store, 2)
    fence = fence_of(store, "s1")
    with fenced_by(fence):
        assert queue_one(store, first)
    expire(store, fence.lease)
    with fenced_by(fence):
        assert not queue_one(store, second)  # lost: 0 rows
        assert not store.set_task_state(
            first, T.FAILED, expected=T.QUEUED, try_number=1, now=NOW, error="judged lost"
        )
        assert not store.note_waiting(_ref(first), "waiting")
    tasks = store.tasks_by_id([first, second])
    assert (tasks[first].state, tasks[first].error) == (T.QUEUED, None)
    assert tasks[second].state is T.PENDING
    assert _attempts(store) == {(first, 1)}


def test_a_waiting_note_goes_when_the_queued_attempt_ends_in_success(store: Store) -> None:
    # A container that ran between two passes: its pod was last seen pending, then ended.
    [ti] = fan_out(store, 1)
    assert queue_one(store, ti)
    assert store.note_waiting(_ref(ti), "waiting: Pending")
    assert store.set_task_state(ti, T.SUCCESS, expected=T.QUEUED, try_number=1, now=NOW)
    assert store.tasks_by_id([ti])[ti].error is None


def test_a_fenced_writer_never_moves_another_schedulers_attempt(store: Store) -> None:
    [ti] = fan_out(store, 1)
    mine, theirs = fence_of(store, "s1"), fence_of(store, "s2")
    with fenced_by(theirs):
        assert queue_one(store, ti)
    with fenced_by(mine):
        assert not store.set_task_state(ti, T.FAILED, expected=T.QUEUED, try_number=1, now=NOW)
    # A user's (unfenced) action still does: the owner stops its worker.
    assert store.set_task_state(ti, T.FAILED, expected=T.QUEUED, try_number=1, now=NOW)


def test_a_run_is_not_created_under_a_lost_lease(store: Store) -> None:
    fence = fence_of(store, "s1")
    expire(store, fence.lease)
    with fenced_by(fence), pytest.raises(Exception, match="lease is lost"):
        fan_out(store, 1)


# --- adoption ----------------------------------------------------------------------------------


def test_a_lost_schedulers_open_attempts_are_adopted_not_restarted(store: Store) -> None:
    queued, running, done = fan_out(store, 3)
    old, new = fence_of(store, "old"), fence_of(store, "new")
    with fenced_by(old):
        for ti in (queued, running, done):
            assert queue_one(store, ti)
    store.start_attempt(_ref(running), hostname="h", pid=1, now=NOW)
    store.start_attempt(_ref(done), hostname="h", pid=2, now=NOW)
    store.finish_attempt(_ref(done), T.SUCCESS, now=NOW)
    [lost] = [row for row in store.leases("scheduler:old")]
    assert store.adopt(lost, new) == []  # not expired yet: a slow scheduler keeps its work
    expire(store, old.lease)
    [lost] = [row for row in store.leases("scheduler:old")]
    assert store.adopt(lost, new) == [queued, running]
    tasks = store.tasks_by_id([queued, running, done])
    assert [(tasks[i].owner, tasks[i].try_number) for i in (queued, running)] == [
        ("new", 1),
        ("new", 1),
    ]
    assert tasks[running].state is T.RUNNING  # adopted as it was, not restarted
    assert store.leases("scheduler:old") == []  # retired, at a new epoch
    assert store.acquire_lease(old.lease, "old", 60) == old.epoch + 2
    with fenced_by(old):  # the old scheduler, resumed, can do nothing with them
        assert not store.set_task_state(
            running, T.FAILED, expected=T.RUNNING, try_number=1, now=NOW
        )
    assert store.finish_attempt(_ref(running), T.SUCCESS, now=NOW)  # its worker still reports


def test_adoption_is_fenced_too(store: Store) -> None:
    [ti] = fan_out(store, 1)
    old, new = fence_of(store, "old"), fence_of(store, "new")
    with fenced_by(old):
        assert queue_one(store, ti)
    expire(store, old.lease)
    expire(store, new.lease)
    [lost] = store.leases("scheduler:old")
    assert store.adopt(lost, new) == []
    assert store.tasks_by_id([ti])[ti].owner == "old"


# --- claims (H1) -------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1000])
def test_two_schedulers_racing_over_the_same_tasks_never_queue_one_twice(
    store_url: str, width: int
) -> None:
    """Two threads, each a scheduler with its own store and lease, both try to queue every
    one of 1,000 ready tasks, in their own random order: each task is queued exactly once."""
    setup = open_store(store_url)
    try:
        ids = fan_out(setup, width)
    finally:
        setup.close()
    won: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def claimer(name: str) -> None:
        own = open_store(store_url, default_pool_slots=width)  # no pool limit here
        try:
            fence = fence_of(own, name)
            order = random.Random(name).sample(ids, len(ids))
            barrier.wait()
            with fenced_by(fence):
                won[name] = [ti for ti in order if queue_one(own, ti)]
        finally:
            own.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in ("s1", "s2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    claims = Counter(ti for name in won for ti in won[name])
    assert sorted(claims) == ids and set(claims.values()) == {1}
    check = open_store(store_url)
    try:
        owners = {ti.id: ti.owner for ti in check.tasks_by_id(ids).values()}
        assert owners == {ti: name for name in won for ti in won[name]}
        assert _attempts(check) == {(ti, 1) for ti in ids}
    finally:
        check.close()


def _ref(ti_id: int) -> AttemptRef:
    """The attempt of try 1."""
    return AttemptRef(ti_id, 1)


def _attempts(store: Store) -> set[tuple[int, int]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(task_attempts.c.ti_id, task_attempts.c.try_number)).all()
    return {(r[0], r[1]) for r in rows}
