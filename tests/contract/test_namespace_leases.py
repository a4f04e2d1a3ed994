"""Namespace leases (ADR 0028): one scheduler at a time looks after a namespace's pods; the
lease passes on when its holder stops, expires or is a process of this host that is gone,
at a new epoch; a holder that has not renewed in time stops looking after it at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brisa.core.leases import Identity, namespace_lease
from brisa.scheduler.namespaces import NamespaceLeases
from brisa.store import Store, open_store
from support.clock import ManualClock

HOST = "box"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url, migrate=True)
    yield opened
    opened.close()


def leases(
    store: Store, pid: int, clock: ManualClock, live: set[int], ttl: float = 15
) -> NamespaceLeases:
    return NamespaceLeases(
        store, Identity(HOST, pid, 7), ttl=ttl, awake=clock,
        namespaces=lambda: ["team-a", "team-b"],
        start_time_of=lambda p: 7 if p in live else None,
    )  # fmt: skip


def epoch(store: Store, namespace: str) -> tuple[str, int]:
    row = {r.name: r for r in store.leases("k8s:")}[namespace_lease(namespace)]
    return row.holder, row.epoch


def test_one_holder_per_namespace_and_a_graceful_stop_hands_over_at_once(store: Store) -> None:
    clock, live = ManualClock(), {1, 2}
    first, second = leases(store, 1, clock, live), leases(store, 2, clock, live)
    first.renew()
    second.renew()
    assert first.holds("team-a") and first.holds("team-b")
    assert not second.holds("team-a") and not second.holds("team-b")
    assert not first.holds("team-c")  # not a namespace it watches
    first.release()
    assert not first.holds("team-a")
    second.renew()
    assert second.holds("team-a") and second.holds("team-b")
    assert epoch(store, "team-a") == ("box/2/7", 2)  # a new epoch: the hands changed


def test_a_holder_not_renewed_in_time_stops_at_once_and_loses_the_lease_on_expiry(
    store: Store,
) -> None:
    clock, live = ManualClock(), {1, 2}
    first, second = leases(store, 1, clock, live, ttl=3), leases(store, 2, clock, live, ttl=3)
    first.renew()
    clock.now += 1.6  # more than ttl/2 by its own clock (a pause): no duty until renewed
    assert not first.holds("team-a")
    second.renew()
    assert not second.holds("team-a")  # not expired on the database's clock yet
    first.renew()
    assert first.holds("team-a")


def test_a_holder_of_this_host_that_is_gone_is_replaced_at_once(store: Store) -> None:
    clock, live = ManualClock(), {1, 2}
    crashed = leases(store, 1, clock, live)
    crashed.renew()
    live.discard(1)  # SIGKILLed: its lease has not expired, its process is gone
    successor = leases(store, 2, clock, live)
    successor.renew()
    assert successor.holds("team-a") and successor.holds("team-b")
    assert epoch(store, "team-b") == ("box/2/7", 2)


def test_the_database_says_which_task_instances_exist(store: Store) -> None:
    mine = leases(store, 1, ManualClock(), {1})
    assert mine.known({1, 2, 3}) == set()  # an empty database: every pod would be an orphan
