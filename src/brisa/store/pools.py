"""Pools in the database: slot rows claimed and released with the task's own state change.

`claim_slots` runs in the transaction that queues a task (`RunStore.queue_task`), and
`release_slots` in the one guarded state change that moves a task out of queued or running
(`guards.guarded_update`), so no verb can hold a slot past its attempt or forget to free it.

On PostgreSQL a claim locks free rows with `FOR UPDATE SKIP LOCKED`: schedulers claiming from
one pool at once take different rows and never wait on each other, and there is no single
pool row that every claim locks (it scales negatively; docs/adr/0020-pools.md). On SQLite
writes are serialized (`BEGIN IMMEDIATE`), so the same statements are a plain claim.

Resizes (`set_pool`, `delete_pool`) lock the pool's row and all its slot rows in slot order,
as releases lock theirs, so the two never deadlock; claims skip locked rows and wait for
none.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from brisa.core import pools as core
from brisa.core.pools import DEFAULT_POOL, DEFAULT_SLOTS, Pool, PoolBook, SlotRow
from brisa.core.states import TaskState
from brisa.errors import NotFound
from brisa.store import rawpass
from brisa.store.engine import WRITE
from brisa.store.tables import dag_runs, dags, pool_slots, pools, task_instances

S = pool_slots.c


def _of(team: str, pool: str) -> list[sa.ColumnElement[bool]]:
    return [S.team == team, S.pool == pool]


def claim_slots(
    conn: sa.Connection,
    ti_id: int,
    team: str,
    pool: str,
    needed: int = 1,
    *,
    default_slots: int = DEFAULT_SLOTS,
) -> bool:
    """Give task instance `ti_id` `needed` free slots of pool (team, pool), in the caller's
    transaction; False (nothing written) when the pool has fewer free, or does not exist. A
    team's default pool that no task used yet is created first, with `default_slots`."""
    if _claim(conn, ti_id, team, pool, needed):
        return True
    if pool != DEFAULT_POOL:
        return False
    # Created here, or by a scheduler that was creating it meanwhile (its insert made ours
    # wait, and its rows are committed now): either way there are rows to claim again.
    create_default_pool(conn, team, default_slots)
    return _claim(conn, ti_id, team, pool, needed)


_FREE_SLOTS = (  # built once, bound at each claim
    sa.select(S.slot_no)
    .where(
        S.team == sa.bindparam("f_team"),
        S.pool == sa.bindparam("f_pool"),
        S.ti_id.is_(None),
        sa.not_(S.retired),
    )
    .order_by(S.slot_no)
    .limit(sa.bindparam("f_limit"))
    .with_for_update(skip_locked=True)
)


def _free_slots(conn: sa.Connection, team: str, pool: str, limit: int) -> list[int]:
    """Up to `limit` free slot numbers of a pool, locked; a slot another transaction is
    taking is skipped, never waited for."""
    return list(
        rawpass.run(conn, _FREE_SLOTS, {"f_team": team, "f_pool": pool, "f_limit": limit}).scalars()
    )


def _claim(conn: sa.Connection, ti_id: int, team: str, pool: str, needed: int) -> bool:
    numbers = _free_slots(conn, team, pool, needed)
    if len(numbers) < needed:
        return False
    claimed = conn.execute(
        pool_slots.update()
        .where(*_of(team, pool), S.slot_no.in_(numbers), S.ti_id.is_(None))
        .values(ti_id=ti_id)
    ).rowcount
    return bool(claimed == needed)


def lock_free_slots(
    conn: sa.Connection,
    team: str,
    pool: str,
    needs: Sequence[tuple[int, int]],
    *,
    default_slots: int = DEFAULT_SLOTS,
) -> dict[int, list[int]]:
    """For a batch of claims on one pool, `(ti_id, slots needed)` in the order they should
    be served: lock enough free slot rows (`FOR UPDATE SKIP LOCKED`, in the caller's
    transaction) and share them out in that order; a claim that does not fit gets none and
    stops the ones after it (no starvation of wide claims). Returns ti_id -> slot numbers.
    Nothing is written but a team's default pool that did not exist yet: the slots are
    given with `assign_slots`, once the tasks' own moves are known to have happened."""
    total = sum(n for _, n in needs)
    numbers = _free_slots(conn, team, pool, total)
    if (
        len(numbers) < total
        and pool == DEFAULT_POOL
        and create_default_pool(conn, team, default_slots)
    ):
        numbers = _free_slots(conn, team, pool, total)
    shares: dict[int, list[int]] = {}
    for ti_id, needed in needs:
        if needed > len(numbers):
            break
        shares[ti_id], numbers = numbers[:needed], numbers[needed:]
    return shares


def assign_slots(conn: sa.Connection, team: str, pool: str, shares: dict[int, list[int]]) -> None:
    """Give the slot rows locked by `lock_free_slots` to their task instances (one
    statement); raises if one was taken meanwhile (cannot happen while they are locked)."""
    owner = {number: ti_id for ti_id, numbers in shares.items() for number in numbers}
    if not owner:
        return
    params: dict[str, Any] = {"g_team": team, "g_pool": pool, "g_numbers": sorted(owner)}
    for k, (number, ti_id) in enumerate(owner.items()):
        params[f"g_n{k}"], params[f"g_t{k}"] = number, ti_id
    given = rawpass.run(conn, _assigning(len(owner)), params).rowcount
    if given != len(owner):
        raise RuntimeError(f"pool {team}/{pool}: {len(owner) - given} locked slots were taken")


@functools.lru_cache(maxsize=64)
def _assigning(count: int) -> sa.Update:
    """`assign_slots`'s statement for `count` slots, built once per count: slot `g_n<k>`
    to task instance `g_t<k>`, of pool (`g_team`, `g_pool`), each slot still free."""
    whens = [(S.slot_no == sa.bindparam(f"g_n{k}"), sa.bindparam(f"g_t{k}", type_=S.ti_id.type))
             for k in range(count)]  # fmt: skip
    return (
        pool_slots.update()
        .where(
            S.team == sa.bindparam("g_team"),
            S.pool == sa.bindparam("g_pool"),
            S.slot_no.in_(sa.bindparam("g_numbers", expanding=True)),
            S.ti_id.is_(None),
        )
        .values(ti_id=sa.case(*whens))
    )


def _insert_ignoring_conflict(conn: sa.Connection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def create_default_pool(conn: sa.Connection, team: str, slots: int) -> bool:
    """Create team's default pool with `slots` free rows unless it exists; True if created.
    Two schedulers doing it at once: the second waits for the first's row, then does
    nothing."""
    created = conn.execute(
        _insert_ignoring_conflict(conn, pools)
        .values(team=team, name=DEFAULT_POOL, slots=slots, description="", configured=False)
        .returning(pools.c.name)
    ).first()
    if created is None:
        return False
    _add_rows(conn, team, DEFAULT_POOL, range(slots))
    return True


def _add_rows(conn: sa.Connection, team: str, pool: str, numbers: Sequence[int] | range) -> None:
    if len(numbers):
        rows = [{"team": team, "pool": pool, "slot_no": n, "retired": False} for n in numbers]
        conn.execute(pool_slots.insert(), rows)


def release_slots(conn: sa.Connection, ti_ids: Sequence[int]) -> None:
    """Free every slot the task instances `ti_ids` hold, in the caller's transaction.

    A retired slot (its pool was shrunk below its usage, or deleted) goes away. An ordinary
    one is freed, unless its pool still has retired slots in use: then it goes away in place
    of one of those, which becomes ordinary, so the pool does not start anything new until
    its usage is under its size.

    One statement when no pool of theirs has retired slots in use (every call but those
    after a shrink): the slots are freed and say in the same statement whether their pool
    has such slots (`_release`, built once per dialect).
    """
    if not ti_ids:
        return
    settle_released(conn, conn.execute(_release(conn.dialect.name), {"ti_ids": list(ti_ids)}))


def settle_released(conn: sa.Connection, released: Iterable[Sequence[Any]]) -> None:
    """The rest of `release_slots` once its statement (or `release_one`'s) has answered
    `released`: retired slots among them deleted, retired slots in use made ordinary in
    place of freed ones. Nothing to do but after a shrink."""
    held = sorted(tuple(row) for row in released)
    freed: dict[tuple[str, str], list[int]] = defaultdict(list)
    gone: dict[tuple[str, str], list[int]] = defaultdict(list)
    replacing: set[tuple[str, str]] = set()
    for team, pool, number, retired, excess in held:
        (gone if retired else freed)[(team, pool)].append(number)
        if excess and not retired:
            replacing.add((team, pool))
    for team, pool in sorted(replacing):
        numbers = freed[(team, pool)]
        excess_rows = conn.scalars(
            sa.select(S.slot_no)
            .where(*_of(team, pool), S.retired, S.ti_id.is_not(None))
            .limit(len(numbers))
            .with_for_update(skip_locked=True)
        ).all()
        if excess_rows:
            gone[(team, pool)] += numbers[: len(excess_rows)]
            conn.execute(
                pool_slots.update()
                .where(*_of(team, pool), S.slot_no.in_(excess_rows))
                .values(retired=False)
            )
    for (team, pool), numbers in gone.items():
        conn.execute(pool_slots.delete().where(*_of(team, pool), S.slot_no.in_(numbers)))


_RELEASE: dict[str, sa.Update] = {}


def _release(dialect: str) -> sa.Update:
    """`UPDATE pool_slots SET ti_id = NULL WHERE ti_id IN :ti_ids RETURNING team, pool,
    slot_no, retired, <the pool has retired slots in use>`. On PostgreSQL the rows are
    locked in slot order first (a subquery `FOR UPDATE`), as resizes lock theirs, so the two
    never deadlock. The flag may also count a retired slot of the releasing task itself (a
    subquery sees the rows before the statement): then the full check runs, and finds none."""
    statement = _RELEASE.get(dialect)
    if statement is None:
        ids: sa.BindParameter[list[int]] = sa.bindparam("ti_ids", expanding=True)
        if dialect == "postgresql":
            locked = (
                sa.select(S.team, S.pool, S.slot_no)
                .where(S.ti_id.in_(ids))
                .order_by(S.team, S.pool, S.slot_no)
                .with_for_update()
            )
            held = sa.tuple_(S.team, S.pool, S.slot_no).in_(locked)
        else:  # SQLite: one writer at a time
            held = S.ti_id.in_(ids)
        statement = _RELEASE[dialect] = _freeing(held)
    return statement


def release_one() -> sa.Update:
    """SQLite: `release_slots`'s statement for one task instance, its id bound as a scalar
    (`r_ti_id`), not an expanding list: compiled once, run on the raw cursor (ADR 0036)."""
    return _freeing(S.ti_id == sa.bindparam("r_ti_id"))


def _freeing(held: sa.ColumnElement[bool]) -> sa.Update:
    other = pool_slots.alias("other")
    in_use = (
        sa.exists()
        .where(
            other.c.team == S.team,
            other.c.pool == S.pool,
            other.c.retired,
            other.c.ti_id.is_not(None),
        )
        .label("excess")
    )
    return (
        pool_slots.update()
        .where(held)
        .values(ti_id=None)
        .returning(S.team, S.pool, S.slot_no, S.retired, in_use)
    )


def resize_slots(conn: sa.Connection, team: str, pool: str, slots: int) -> None:
    """Make the pool's slot rows `slots` ordinary rows (`core.pools.resize`), its rows
    locked in slot order first. The caller holds the pool's row lock."""
    rows = conn.execute(
        sa.select(S.slot_no, S.ti_id, S.retired)
        .where(*_of(team, pool))
        .order_by(S.slot_no)
        .with_for_update()
    ).all()
    plan = core.resize([SlotRow(n, ti is not None, bool(r)) for n, ti, r in rows], slots)
    if plan.delete:
        conn.execute(pool_slots.delete().where(*_of(team, pool), S.slot_no.in_(plan.delete)))
    _add_rows(conn, team, pool, plan.add)
    for numbers, retired in ((plan.retire, True), (plan.unretire, False)):
        if numbers:
            conn.execute(
                pool_slots.update()
                .where(*_of(team, pool), S.slot_no.in_(numbers))
                .values(retired=retired)
            )


def _pool(row: Any, used: int = 0, retired: int = 0, **counts: int) -> Pool:
    # Ordinary rows number `slots` (resize keeps them so): those not held are free.
    free = max(0, row.slots - (used - retired))
    return Pool(
        row.team, row.name, row.slots, used, free, row.description, row.configured, **counts
    )


def pool_from(
    team: str, name: str, slots: int, description: str, configured: bool, used: Any, retired: Any
) -> Pool:
    """A pool of the pool book from its row and the slots held of it (None: none)."""
    used, retired = int(used or 0), int(retired or 0)
    free = max(0, slots - (used - retired))
    return Pool(team, name, slots, used, free, description, configured)


def held_slots() -> sa.Subquery:
    """Per pool, the slot rows held and how many of those are retired."""
    return (
        sa.select(
            S.team,
            S.pool,
            sa.func.count().label("used"),
            sa.func.sum(sa.cast(S.retired, sa.Integer)).label("retired"),
        )
        .where(S.ti_id.is_not(None))
        .group_by(S.team, S.pool)
        .subquery("held")
    )


class PoolStore:
    engine: sa.Engine
    reader: sa.Engine  # reads without a transaction of their own (engine.reader)
    # Slots of a team's default pool while its size comes from the settings.
    default_pool_slots: int = DEFAULT_SLOTS

    @property
    def _pool_writer(self) -> sa.Engine:
        return self.engine.execution_options(**WRITE)

    def pool_book(self) -> PoolBook:
        """Every pool with its usage, for the planner (one statement; only held rows are
        counted)."""
        held = held_slots()
        query = sa.select(pools, held.c.used, held.c.retired).outerjoin(
            held, sa.and_(held.c.team == pools.c.team, held.c.pool == pools.c.name)
        )
        with self.reader.connect() as conn:
            found = {
                (row.team, row.name): _pool(row, int(row.used or 0), int(row.retired or 0))
                for row in conn.execute(query)
            }
        return PoolBook(found, self.default_pool_slots)

    def list_pools(self, team: str) -> list[Pool]:
        """A team's pools by name, its default pool always among them, with the slots their
        queued and running attempts hold."""
        held = (
            sa.select(S.pool, task_instances.c.state, sa.func.count(), sa.func.sum(
                sa.cast(S.retired, sa.Integer)))
            .join(task_instances, task_instances.c.id == S.ti_id)
            .where(S.team == team)
            .group_by(S.pool, task_instances.c.state)
        )  # fmt: skip
        by_pool: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        with self.engine.connect() as conn:
            for pool, state, count, retired in conn.execute(held):
                counts = by_pool[pool]
                counts["queued" if state == TaskState.QUEUED else "running"] += int(count)
                counts["retired"] += int(retired or 0)
            rows = conn.execute(
                sa.select(pools).where(pools.c.team == team).order_by(pools.c.name)
            ).all()
        out = []
        for row in rows:
            c = by_pool[row.name]
            used = c["queued"] + c["running"]
            out.append(_pool(row, used, c["retired"], queued=c["queued"], running=c["running"]))
        if not any(p.name == DEFAULT_POOL for p in out):
            out.append(core.default_pool(team, self.default_pool_slots))
        return sorted(out, key=lambda p: (not p.is_default, p.name))

    def get_pool(self, team: str, name: str) -> Pool:
        found = next((p for p in self.list_pools(team) if p.name == name), None)
        if found is None:
            raise NotFound(
                f"pool {name} does not exist in team {team}: `brisa pools list {team}` shows "
                f"its pools, `brisa pools set {team} {name} --slots N` creates it"
            )
        return found

    def pool_teams(self) -> set[str]:
        """Teams that have DAGs or pools stored."""
        query = sa.union(sa.select(dags.c.team).distinct(), sa.select(pools.c.team).distinct())
        with self.engine.connect() as conn:
            return set(conn.scalars(query))

    def set_pool(
        self, team: str, name: str, *, slots: int, description: str | None, now: datetime
    ) -> Pool:
        """Create pool (team, name) or change its size (and description, unless None).
        Shrinking below its usage lets the attempts that hold slots finish; nothing new
        starts until usage is under the new size."""
        values: dict[str, Any] = {"slots": slots, "configured": True, "updated_at": now}
        if description is not None:
            values["description"] = description
        self._resize(team, name, slots, values)
        return self.get_pool(team, name)

    def delete_pool(self, team: str, name: str, now: datetime) -> None:
        """Delete a pool; its held slots are given back as their attempts end. The default
        pool cannot go: it returns to its size from the settings."""
        if name == DEFAULT_POOL:
            values = {"slots": self.default_pool_slots, "configured": False, "updated_at": now}
            self._resize(team, name, self.default_pool_slots, values)
            return
        with self._pool_writer.begin() as conn:
            where = (pools.c.team == team, pools.c.name == name)
            if (
                conn.execute(sa.select(pools.c.name).where(*where).with_for_update()).first()
                is None
            ):
                self.get_pool(team, name)  # NotFound, worded for people
            resize_slots(conn, team, name, 0)
            conn.execute(pools.delete().where(*where))

    def sync_default_pools(self, now: datetime) -> int:
        """Give the default pools whose size comes from the settings `default_pool_slots`
        (the scheduler does it when it starts); returns how many changed."""
        query = sa.select(pools.c.team).where(
            pools.c.name == DEFAULT_POOL,
            pools.c.configured.is_(False),
            pools.c.slots != self.default_pool_slots,
        )
        with self.engine.connect() as conn:
            teams = list(conn.scalars(query))
        for team in teams:
            values = {"slots": self.default_pool_slots, "updated_at": now}
            self._resize(team, DEFAULT_POOL, self.default_pool_slots, values, configured=False)
        return len(teams)

    def _resize(
        self,
        team: str,
        name: str,
        slots: int,
        values: dict[str, Any],
        *,
        configured: bool | None = None,
    ) -> None:
        with self._pool_writer.begin() as conn:
            conn.execute(
                _insert_ignoring_conflict(conn, pools).values(
                    team=team, name=name, slots=slots, description="", configured=True
                )
            )
            where = [pools.c.team == team, pools.c.name == name]
            if configured is not None:
                where.append(pools.c.configured.is_(configured))
            locked = conn.execute(sa.select(pools.c.name).where(*where).with_for_update()).first()
            if locked is None:
                return  # set by hand meanwhile: the settings no longer size it
            conn.execute(pools.update().where(*where).values(values))
            resize_slots(conn, team, name, slots)

    def pool_holders(self, team: str, name: str) -> list[dict[str, Any]]:
        """The task instances holding slots of a pool: team, dag, run, task, state, slots."""
        ti = task_instances.c
        query = (
            sa.select(
                dag_runs.c.dag_id, dag_runs.c.run_id, ti.task_id, ti.id, ti.state, ti.try_number,
                sa.func.count(),
            )
            .select_from(pool_slots)
            .join(task_instances, ti.id == S.ti_id)
            .join(dag_runs, dag_runs.c.id == ti.run_pk)
            .where(*_of(team, name))
            .group_by(dag_runs.c.dag_id, dag_runs.c.run_id, ti.task_id, ti.id, ti.state,
                      ti.try_number)
            .order_by(ti.id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            return [
                {"team": team, "dag_id": d, "run_id": r, "task_id": t, "ti_id": i,
                 "state": s, "try_number": n, "slots": int(c)}
                for d, r, t, i, s, n, c in conn.execute(query)
            ]  # fmt: skip
