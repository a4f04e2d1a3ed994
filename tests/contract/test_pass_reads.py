"""`Store.pass_reads`: the outbox, the catalog stamp and the pool book of a scheduling pass,
read together (one statement on PostgreSQL, ADR 0038), answer what the three separate reads
answer."""

from __future__ import annotations

from datetime import UTC, datetime

from test_store import TEAM, new_run, publish

from brisa.core.pools import PoolClaim
from brisa.store import Store

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def same_as_apart(store: Store, after: tuple[int, list[int]] | None) -> None:
    reads = store.pass_reads(after, limit=50)
    apart = None if after is None else store.changes_after(after[0], also=after[1], limit=50)
    assert reads.changes == apart
    assert reads.stamp == store.catalog_stamp()
    assert reads.pools.pools == store.pool_book().pools
    assert reads.pools.default_slots == store.pool_book().default_slots


def test_the_reads_of_a_pass_together_are_the_reads_apart(store: Store) -> None:
    same_as_apart(store, (0, []))
    publish(store)
    store.set_pool(TEAM, "db", slots=2, description="the database", now=NOW)
    newest = store.last_change_id()
    same_as_apart(store, (0, []))
    same_as_apart(store, (newest, []))
    same_as_apart(store, (newest, [1, 2]))
    same_as_apart(store, None)
    store.set_paused(TEAM, "etl", True)
    same_as_apart(store, (newest, []))
    assert store.pass_reads((0, []), limit=2).changes == store.changes_after(0, limit=2)


def test_a_held_slot_shows_in_the_pool_book_read_with_the_outbox(store: Store) -> None:
    run = new_run(store)
    store.set_pool(TEAM, "db", slots=2, description="", now=NOW)
    ti = run.tasks["extract"]
    claim = PoolClaim(TEAM, "db", 1)
    assert store.queue_task(ti.id, expected=ti.state, try_number=0, now=NOW, pool=claim)
    same_as_apart(store, (0, []))
    pool = store.pass_reads(None, limit=1).pools.get(TEAM, "db")
    assert pool is not None and (pool.slots, pool.used, pool.free) == (2, 1, 1)
