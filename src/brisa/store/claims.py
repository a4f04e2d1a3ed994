"""Leases on the database's clock and the adoption of a lost scheduler's attempts (ADR 0019).

A lease is a row `(name, holder, epoch, expires_at)`. `acquire` takes or renews it in one
statement that the database decides on its own clock: a holder renews its own lease while it
has not expired; anyone takes a lease that has expired (or that `lost` says is dead). The
epoch grows each time the lease changes hands or is taken again after it expired, so a write
fenced at an older epoch (`fencing.Fence`) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from brisa.core.states import TaskState
from brisa.store import changes
from brisa.store.engine import WRITE
from brisa.store.fencing import Fence, db_now, lease_holds
from brisa.store.tables import leases, task_instances

OPEN = (TaskState.QUEUED, TaskState.RUNNING)
NOBODY = ""  # the holder of a lease whose holder was lost and whose work was adopted
FORGET_AFTER = 86400.0  # seconds after which such a lease row is deleted


@dataclass(frozen=True)
class LeaseRow:
    name: str
    holder: str
    epoch: int
    expires_in: float  # seconds on the database's clock; negative once expired


class ClaimStore:
    engine: sa.Engine

    @property
    def _writer(self) -> sa.Engine:
        return self.engine.execution_options(**WRITE)

    def acquire_lease(
        self, name: str, holder: str, ttl: float, *, take_from: str | None = None
    ) -> int | None:
        """Take or renew lease `name` for `ttl` seconds; its epoch, or None while another
        holds it. `take_from`: a holder known to be dead (`core.leases.dead_here`), whose
        unexpired lease may be taken at once."""
        dialect = self.engine.dialect.name
        now = db_now(dialect)
        with self._writer.begin() as conn:
            conn.execute(
                _insert_missing(dialect).values(
                    name=name, holder=holder, epoch=1, expires_at=now + ttl,
                    acquired_at=now, renewed_at=now,
                )
            )  # fmt: skip
            row = leases.c
            renewing = sa.and_(row.holder == holder, row.expires_at > now)
            takeable = sa.or_(row.expires_at <= now, row.holder == (take_from or holder))
            epoch = conn.execute(
                leases.update()
                .where(row.name == name, takeable)
                .values(
                    holder=holder,
                    epoch=sa.case((renewing, row.epoch), else_=row.epoch + 1),
                    expires_at=now + ttl,
                    acquired_at=sa.case((renewing, row.acquired_at), else_=now),
                    renewed_at=now,
                )
                .returning(row.epoch)
            ).scalar()
        return None if epoch is None else int(epoch)

    def release_lease(self, name: str, holder: str) -> bool:
        """Give lease `name` up (it expires now) if `holder` has it: others take it at once."""
        with self._writer.begin() as conn:
            done = conn.execute(
                leases.update()
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=0.0)
            ).rowcount
        return bool(done)

    def leases(self, prefix: str = "") -> list[LeaseRow]:
        """The held leases whose name starts with `prefix`, with their time left on the
        database's clock (negative once expired)."""
        now = db_now(self.engine.dialect.name)
        query = (
            sa.select(leases.c.name, leases.c.holder, leases.c.epoch, (leases.c.expires_at - now))
            .where(leases.c.holder != NOBODY)
            .order_by(leases.c.name)
        )
        if prefix:
            query = query.where(leases.c.name.startswith(prefix, autoescape=True))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [LeaseRow(r[0], r[1], int(r[2]), float(r[3])) for r in rows]

    def adopt(self, lost: LeaseRow, fence: Fence, *, dead_here: bool = False) -> list[int]:
        """Make `fence`'s holder the owner of the open attempts of `lost`'s holder, whose lease
        has expired on the database's clock (or whose process is known dead, `dead_here`),
        and retire that lease; returns the adopted task instance ids. Fenced: nothing happens
        unless `fence` still holds. Run only after the lease is lost, never on a heartbeat's
        age: a holder that is merely slow keeps its attempts."""
        dialect = self.engine.dialect.name
        now = db_now(dialect)
        row = leases.c
        gone = sa.and_(row.name == lost.name, row.holder == lost.holder, row.epoch == lost.epoch)
        if not dead_here:
            gone = sa.and_(gone, row.expires_at <= now)
        with self._writer.begin() as conn:
            if not conn.execute(sa.select(sa.exists().where(gone))).scalar():
                return []
            ti = task_instances.c
            adopted = conn.execute(
                task_instances.update()
                .where(
                    ti.owner == lost.holder,
                    ti.state.in_(OPEN),
                    lease_holds(fence, dialect),
                )
                .values(owner=fence.holder, owner_epoch=fence.epoch)
                .returning(ti.id, ti.run_pk, ti.try_number)
            ).all()
            # Kept, holderless, at a new epoch: a fence of the lost holder never matches
            # again, even if it takes its lease anew. Long-released rows are dropped.
            conn.execute(
                leases.update()
                .where(gone, lease_holds(fence, dialect))
                .values(holder=NOBODY, epoch=row.epoch + 1, expires_at=0.0)
            )
            conn.execute(
                leases.delete().where(row.holder == NOBODY, row.renewed_at < now - FORGET_AFTER)
            )
            changes.record(conn, (f"run:{r.run_pk}" for r in adopted))
        return sorted(r.id for r in adopted)

    def lease_holds(self, fence: Fence) -> bool:
        """Whether `fence`'s lease is still held at its epoch, on the database's clock."""
        with self.engine.connect() as conn:
            return bool(conn.execute(sa.select(lease_holds(fence, conn.dialect.name))).scalar())


def _insert_missing(dialect: str) -> sa.Insert:
    """INSERT of a lease row that does nothing when the row exists."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(leases).on_conflict_do_nothing(index_elements=["name"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(leases).on_conflict_do_nothing(index_elements=["name"])
