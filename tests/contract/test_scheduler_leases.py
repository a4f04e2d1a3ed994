"""The scheduler's lease keeper (ADR 0019): one scheduler on SQLite, a restart after a crash
takes over at once, a scheduler that has not renewed in time stops acting, and a graceful
stop hands its work over at once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from brisa.core.leases import Identity, LeaseTiming, dead_here
from brisa.scheduler.ha import AnotherScheduler, LeaseKeeper
from brisa.store import Store, open_store
from support.clock import ManualClock

HOST = "box"


def keeper(
    store: Store, pid: int, clock: ManualClock, live: set[int], ttl: float = 15
) -> LeaseKeeper:
    return LeaseKeeper(
        store,
        ttl=ttl,
        awake=clock,
        identity=Identity(HOST, pid, 7),
        start_time_of=lambda p: 7 if p in live else None,
    )


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'brisa.db'}", migrate=True)


def test_a_second_scheduler_on_sqlite_is_refused_with_the_reason(sqlite_store: Store) -> None:
    clock, live = ManualClock(), {1, 2}
    keeper(sqlite_store, 1, clock, live).start()
    with pytest.raises(AnotherScheduler) as refused:
        keeper(sqlite_store, 2, clock, live).start()
    message = str(refused.value)
    assert "another scheduler holds the lease" in message
    assert "box/1/7" in message and "exactly one scheduler" in message
    assert "PostgreSQL" in message


def test_after_a_crash_the_next_scheduler_of_the_host_takes_over_at_once(
    sqlite_store: Store,
) -> None:
    clock, live = ManualClock(), {1, 2}
    crashed = keeper(sqlite_store, 1, clock, live)
    crashed.start()
    live.discard(1)  # killed: its lease has not expired, but its process is gone
    successor = keeper(sqlite_store, 2, clock, live)
    successor.start()
    assert [lost.lease.holder for lost in successor.lost()] == ["box/1/7"]
    assert all(lost.dead_here for lost in successor.lost())


def test_a_graceful_stop_gives_the_lease_up(sqlite_store: Store) -> None:
    clock, live = ManualClock(), {1, 2}
    first = keeper(sqlite_store, 1, clock, live)
    first.start()
    first.close()
    second = keeper(sqlite_store, 2, clock, live)
    second.start()
    assert [lost.dead_here for lost in second.lost()] == [False]  # expired: adopted at once


def test_a_scheduler_that_has_not_renewed_for_half_its_ttl_stops_acting(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock, live = ManualClock(), {1}
    keeping = keeper(sqlite_store, 1, clock, live, ttl=15)
    keeping.start()
    fence = keeping.fence()
    assert fence is not None and fence.holder == "box/1/7"
    clock.now += 7.4
    assert keeping.fence() == fence
    clock.now += 0.2  # 7.6 s > ttl/2 without a renewal: a pause, say
    with caplog.at_level(logging.WARNING, logger="brisa.scheduler"):
        assert keeping.fence() is None
    assert "fenced, re-acquiring" in caplog.text
    assert keeping.renew()
    assert keeping.fence() == fence  # renewed in time on the database's clock: same epoch


def test_lease_timing_and_identity_rules() -> None:
    timing = LeaseTiming(15)
    assert timing.renew_every == 5
    assert not timing.self_fenced(100, 107.5) and timing.self_fenced(100, 107.6)
    assert timing.self_fenced(None, 0)
    me = Identity("host-a.example", 42, 99)
    assert Identity.parse(str(me)) == me and me.lease == "scheduler:host-a.example/42/99"
    assert Identity.parse("nonsense") is None
    assert dead_here(str(me), "host-a.example", lambda pid: None)
    assert dead_here(str(me), "host-a.example", lambda pid: 100)  # the pid was reused
    assert not dead_here(str(me), "host-a.example", lambda pid: 99)
    assert not dead_here(str(me), "host-b", lambda pid: None)  # another host: only by expiry


def test_several_schedulers_share_postgresql_unless_told_to_run_alone(postgres_url: str) -> None:
    store = open_store(postgres_url, migrate=True)
    try:
        clock, live = ManualClock(), {1, 2, 3, 4}
        keeper(store, 1, clock, live).start()
        keeper(store, 2, clock, live).start()  # PostgreSQL: both run
        alone = "with the Kubernetes executor exactly one scheduler may run for now"
        LeaseKeeper(
            store, ttl=15, awake=clock, identity=Identity(HOST, 3, 7),
            start_time_of=lambda p: 7, single_because=alone,
        ).start()  # fmt: skip
        with pytest.raises(AnotherScheduler, match="Kubernetes executor exactly one"):
            LeaseKeeper(
                store, ttl=15, awake=clock, identity=Identity(HOST, 4, 7),
                start_time_of=lambda p: 7, single_because=alone,
            ).start()  # fmt: skip
    finally:
        store.close()
