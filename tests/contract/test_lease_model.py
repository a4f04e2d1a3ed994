"""A stateful model of claim, renew, expire and adopt (ADR 0019), checked against the store.

Hypothesis drives three schedulers through random steps — take or renew their lease, let it
expire, queue a ready task, fail a queued one (a judgement), adopt a lost scheduler's
attempts — on a real database, and after each step compares what the store holds with a
model of the rules: a lease's epoch never goes back, a write under a stale fence changes
nothing, another scheduler's attempt is never moved, and a lost scheduler's attempts pass to
exactly one adopter. SQLite keeps it within `make test`'s budget; the same verbs run on
PostgreSQL in test_store_claims.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.states import TaskState
from brisa.store import Store, open_store
from brisa.store.fencing import Fence, fenced_by
from brisa.store.tables import leases, task_attempts, task_instances

T = TaskState
NOW = datetime(2026, 3, 4, tzinfo=UTC)
SCHEDULERS = ("s1", "s2", "s3")
TASKS = 4


@dataclass
class LeaseModel:
    holder: str
    epoch: int
    expired: bool = False


@dataclass
class World:
    leases: dict[str, LeaseModel] = field(default_factory=dict)  # by scheduler
    fences: dict[str, int] = field(default_factory=dict)  # the epoch each one believes in
    state: dict[int, TaskState] = field(default_factory=dict)
    owner: dict[int, str | None] = field(default_factory=dict)

    def holds(self, s: str) -> bool:
        lease = self.leases.get(s)
        return (
            lease is not None
            and lease.holder == s
            and not lease.expired
            and self.fences.get(s) == lease.epoch
        )


def _store(tmp: Path) -> tuple[Store, list[int]]:
    store = open_store(f"sqlite:///{tmp / 'model.db'}", migrate=True)
    with DAG("model", schedule=None) as dag:
        for i in range(TASKS):
            shell(f"t{i}", "true")
    spec = serialize(dag, "model.py")
    version = store.publish_dag("data", spec, fileloc="model.py", code_version="c", now=NOW)
    run = store.create_run(
        team="data", dag_id="model", version_id=version, run_id="r", run_type="manual",
        logical_date=NOW, interval=(NOW, NOW), conf={}, task_ids=list(spec.tasks), now=NOW,
    )  # fmt: skip
    return store, sorted(ti.id for ti in run.tasks.values())


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, list[int]]:
    return _store(tmp_path_factory.mktemp("model"))


class Leases(RuleBasedStateMachine):
    store: Store
    ids: list[int]

    def __init__(self) -> None:
        super().__init__()
        with self.store.engine.begin() as conn:  # every example starts from a fresh run
            conn.execute(leases.delete())
            conn.execute(task_attempts.delete())
            conn.execute(
                task_instances.update().values(
                    state=T.PENDING, try_number=0, owner=None, owner_epoch=None, error=None
                )
            )
        self.world = World(state=dict.fromkeys(self.ids, T.PENDING), owner=dict.fromkeys(self.ids))

    def fence(self, s: str) -> Fence:
        return Fence(f"scheduler:{s}", s, self.world.fences.get(s, 0))

    @rule(s=st.sampled_from(SCHEDULERS))
    def acquire(self, s: str) -> None:
        epoch = self.store.acquire_lease(f"scheduler:{s}", s, 3600)
        lease = self.world.leases.get(s)
        if lease is None:
            expected = 1
        elif lease.holder == s and not lease.expired:
            expected = lease.epoch
        else:
            expected = lease.epoch + 1
        assert epoch == expected
        self.world.leases[s] = LeaseModel(s, expected)
        self.world.fences[s] = expected

    @precondition(lambda self: self.world.leases)
    @rule(data=st.data())
    def expire(self, data: st.DataObject) -> None:
        s = data.draw(st.sampled_from(sorted(self.world.leases)))
        with self.store.engine.begin() as conn:
            conn.execute(
                leases.update().where(leases.c.name == f"scheduler:{s}").values(expires_at=1.0)
            )
        self.world.leases[s].expired = True

    @rule(s=st.sampled_from(SCHEDULERS), i=st.integers(0, TASKS - 1))
    def queue(self, s: str, i: int) -> None:
        ti = self.ids[i]
        with fenced_by(self.fence(s)):
            done = self.store.queue_task(ti, expected=T.PENDING, try_number=0, now=NOW)
        expected = self.world.holds(s) and self.world.state[ti] is T.PENDING
        assert done == expected
        if done:
            self.world.state[ti], self.world.owner[ti] = T.QUEUED, s

    @rule(s=st.sampled_from(SCHEDULERS), i=st.integers(0, TASKS - 1))
    def judge(self, s: str, i: int) -> None:
        ti = self.ids[i]
        with fenced_by(self.fence(s)):
            done = self.store.set_task_state(ti, T.FAILED, expected=T.QUEUED, try_number=1, now=NOW)
        expected = (
            self.world.holds(s)
            and self.world.state[ti] is T.QUEUED
            and self.world.owner[ti] in (None, s)
        )
        assert done == expected
        if done:
            self.world.state[ti] = T.FAILED

    @rule(s=st.sampled_from(SCHEDULERS), lost=st.sampled_from(SCHEDULERS))
    def adopt(self, s: str, lost: str) -> None:
        rows = [r for r in self.store.leases(f"scheduler:{lost}") if r.holder == lost]
        lease = self.world.leases.get(lost)
        assert bool(rows) == (lease is not None and lease.holder == lost)
        if not rows or s == lost:
            return
        adopted = self.store.adopt(rows[0], self.fence(s))
        assert lease is not None
        if not (lease.expired and self.world.holds(s)):
            assert adopted == []
            return
        expected = [
            ti
            for ti in self.ids
            if self.world.owner[ti] == lost and self.world.state[ti] in (T.QUEUED, T.RUNNING)
        ]
        assert adopted == expected
        for ti in adopted:
            self.world.owner[ti] = s
        lease.holder, lease.epoch = "", lease.epoch + 1

    @invariant()
    def the_store_holds_what_the_model_says(self) -> None:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(task_instances.c.id, task_instances.c.state, task_instances.c.owner)
            ).all()
            held = conn.execute(sa.select(leases.c.name, leases.c.holder, leases.c.epoch)).all()
        assert {r.id: (r.state, r.owner) for r in rows} == {
            ti: (self.world.state[ti], self.world.owner[ti]) for ti in self.ids
        }
        assert {r.name: (r.holder, r.epoch) for r in held} == {
            f"scheduler:{s}": (m.holder, m.epoch) for s, m in self.world.leases.items()
        }


def test_leases_fencing_and_adoption_follow_the_model(shared: tuple[Store, list[int]]) -> None:
    Leases.store, Leases.ids = shared
    run = settings(
        max_examples=60,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )(Leases)
    run.TestCase().runTest()
