"""What the metrics read from the store at scrape time (`Store.gauges`), on SQLite and
PostgreSQL: the counts a dashboard shows must match the rows."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa

from brisa.core.states import RunState, TaskState
from brisa.store import Store
from brisa.store.tables import leases
from contract.test_store import NOW, TEAM, new_run, queue, start


def test_task_instances_of_unfinished_runs_are_counted_by_team_and_state(store: Store) -> None:
    run = new_run(store)
    queue(store, run, "audit")
    start(store, run, "extract")
    gauges = store.gauges()
    assert gauges.tasks == {(TEAM, "queued"): 1, (TEAM, "running"): 1, (TEAM, "pending"): 2}
    assert gauges.queued == {TEAM: 1}


def test_a_finished_run_leaves_the_gauges(store: Store) -> None:
    run = new_run(store)
    for ti in store.get_run_by_pk(run.id).tasks.values():
        store.set_task_state(
            ti.id, TaskState.SKIPPED, expected=ti.state, try_number=ti.try_number, now=NOW
        )
    assert store.set_run_state(run.id, RunState.SUCCESS, NOW, expected=run.state)
    assert store.gauges().tasks == {}


def test_leases_show_their_holder_epoch_and_time_left_on_the_database_clock(store: Store) -> None:
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(leases).values(
                name="scheduler",
                holder="host-a:123",
                epoch=7,
                expires_at=now + 30,
                acquired_at=now,
                renewed_at=now,
            )
        )
    (lease,) = store.gauges().leases
    assert (lease.name, lease.holder, lease.epoch) == ("scheduler", "host-a:123", 7)
    assert 20 < lease.expires_in <= 31  # the database's clock and this one agree to seconds


def test_repositories_and_import_errors(store: Store) -> None:
    store.register_repo("analytics", team=TEAM, url="https://git.example/a.git")
    store.record_sync(
        "analytics",
        team=TEAM,
        url="https://git.example/a.git",
        sha="abc",
        published=True,
        error=None,
        kind=None,
        now=NOW,
    )
    store.register_repo("never", team="ml", url="https://git.example/n.git")
    store.record_import_error(
        TEAM, "broken.py", lineno=3, message="boom", traceback="", now=NOW, repo="analytics"
    )
    gauges = store.gauges()
    synced = {r.name: (r.team, r.last_success_at, r.consecutive_failures) for r in gauges.repos}
    assert synced == {"analytics": (TEAM, NOW, 0), "never": ("ml", None, 0)}
    assert gauges.import_errors == {(TEAM, "analytics"): 1}


def test_the_schema_is_at_the_newest_revision(store: Store) -> None:
    current, head = store.schema_revisions()
    assert current == head
    assert head  # a revision id, e.g. "0005"


def test_a_run_created_later_is_counted_too(store: Store) -> None:
    new_run(store, "manual__1")
    new_run(store, "manual__2", logical_date=NOW + timedelta(days=1))
    assert store.gauges().tasks == {(TEAM, "pending"): 8}
