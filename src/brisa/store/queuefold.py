"""A pass's queued tasks in one statement on PostgreSQL (docs/adr/0031-one-statement-queue-move.md).

`queueing.write_pass` on SQLite locks slots, moves the tasks, gives the slots and records the
moves and attempts in five statements. On PostgreSQL the same steps are the CTEs of one
statement, each fed by the one before, so a pass pays one round trip for its queue instead
of five:

1. `claims`: the batch from arrays (`unnest ... WITH ORDINALITY`, the planner's order), each
   with the slots its pool claim needs and the running sum of those needs in its pool;
2. `locked`: per pool, up to the slots the whole batch needs, free and not retired, locked
   `FOR UPDATE SKIP LOCKED` (a row another scheduler is taking is skipped, never waited for)
   and numbered in slot order;
3. `fits`: the claims whose running sum fits in what was locked: a claim that does not fit
   stops the younger ones of its pool, as `pools.lock_free_slots` shares them out;
4. `moved`: the guarded move of those tasks, each only from its own state at its own try,
   with the fence's conditions (a paused scheduler that lost its lease moves 0 rows, and so
   writes nothing below);
5. `given`: the locked slots handed to the tasks that moved (claim k takes the slots
   numbered after the needs of the claims before it); `recorded`: their moves in
   `task_transitions`, with the state each really left (a single source per task);
   `attempted`: their attempt rows with their run's commit, read in the same statement.

The answer is one row: the ids, runs and tries moved, the slots given and due (they differ
only if a locked row was taken meanwhile, which a lock forbids: the transaction is then
failed), and the teams whose default pool does not exist yet (their claims found no slot;
the caller creates the pool and queues them again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from brisa.core.pools import DEFAULT_POOL, PoolClaim
from brisa.core.states import TaskState
from brisa.store import actors, changes, fencing
from brisa.store.guards import task_topics
from brisa.store.tables import (
    UtcDateTime,
    dag_runs,
    pool_slots,
    pools,
    task_attempts,
    task_instances,
    task_transitions,
)

S = pool_slots.c
TI = task_instances.c


@dataclass(frozen=True)
class Folded:
    """What the statement did: the tasks moved (id, run, new try), and the teams whose
    default pool was missing."""

    moved: list[tuple[int, int, int]]
    missing: set[str]


def queue_in_one(
    conn: sa.Connection,
    batch: Sequence[tuple[int, int, TaskState, str | None, PoolClaim]],
    now: datetime,
) -> Folded:
    """Queue `batch` — (ti_id, try_number, expected, token digest, claim) in the planner's
    order, each task once, each expected state one the table allows a move to queued
    from — as the module docstring says."""
    if not batch:
        return Folded([], set())
    actor, epoch = actors.current()
    params = {
        "b_id": [b[0] for b in batch],
        "b_try": [b[1] for b in batch],
        "b_expected": [str(b[2]) for b in batch],
        "b_token": [b[3] for b in batch],
        "b_team": [b[4].team for b in batch],
        "b_pool": [b[4].name for b in batch],
        "b_needs": [b[4].slots for b in batch],
        "b_now": now,
        "b_actor": actor,
        "b_epoch": epoch,
    }
    row = conn.execute(_statement(fencing.current()), params).one()
    ids, runs, tries, given, due, missing = row
    if int(given or 0) != int(due or 0):
        raise RuntimeError(f"{int(due or 0) - int(given or 0)} locked pool slots were taken")
    moved = list(zip(ids or [], runs or [], tries or [], strict=True))
    changes.record(conn, (t for i, r, n in moved for t in task_topics(i, r, n)))
    return Folded([(int(i), int(r), int(n)) for i, r, n in moved], set(missing or []))


def fresh_try(try_number: Any, now: Any) -> dict[str, Any]:
    """The columns of a task instance queued as try `try_number` (a number, or an expression
    of the row's own) at `now` (a time, or a bound parameter): nothing of the try before,
    owned by the fence's holder when the pass is fenced."""
    fence = fencing.current()
    return {
        "try_number": try_number,
        "queued_at": now,
        "start_date": None,
        "end_date": None,
        "next_try_at": None,
        "heartbeat_at": None,
        "hostname": None,
        "pid": None,
        "error": None,
        "return_value": None,
        "owner": fence.holder if fence else None,
        "owner_epoch": fence.epoch if fence else None,
    }


_BATCH: dict[str, sa.types.TypeEngine[Any]] = {
    "id": sa.Integer(),
    "try": sa.Integer(),
    "expected": sa.String(),
    "token": sa.String(),
    "team": sa.String(),
    "pool": sa.String(),
    "needs": sa.Integer(),
}
# The statement, built once per fence (its conditions name the lease and epoch): building it
# costs more than running it, and the same object is compiled once (SQLAlchemy's cache).
_BUILT: dict[fencing.Fence | None, sa.Select[Any]] = {}


def _statement(fence: fencing.Fence | None) -> sa.Select[Any]:
    built = _BUILT.get(fence)
    if built is None:
        if len(_BUILT) > 16:  # a new epoch or holder: the old ones are not used again
            _BUILT.clear()
        built = _BUILT[fence] = _build()
    return built


def _arrays() -> Any:
    arrays = [
        sa.bindparam(f"b_{name}", type_=postgresql.ARRAY(kind)) for name, kind in _BATCH.items()
    ]
    columns = ["id", "try_number", "expected", "token", "team", "pool", "needs"]
    return (
        sa.func.unnest(*arrays)
        .table_valued(*columns, with_ordinality="ord", name="batch")
        .render_derived(with_types=False)
    )


def _build() -> sa.Select[Any]:
    now = sa.bindparam("b_now", type_=UtcDateTime())
    b = _arrays()
    pool_of = (b.c.team, b.c.pool)
    upto = sa.func.sum(b.c.needs).over(partition_by=pool_of, order_by=b.c.ord)
    claims = sa.select(*b.c, upto.label("upto")).cte("claims")

    need = (
        sa.select(claims.c.team, claims.c.pool, sa.func.sum(claims.c.needs).label("total"))
        .group_by(claims.c.team, claims.c.pool)
        .cte("need")
    )
    free = (
        sa.select(S.team, S.pool, S.slot_no)
        .where(S.team == need.c.team, S.pool == need.c.pool, S.ti_id.is_(None))
        .where(sa.not_(S.retired))
        .order_by(S.slot_no)
        .limit(need.c.total)
        .with_for_update(skip_locked=True)
        .lateral("free")
    )
    number = sa.func.row_number().over(partition_by=(free.c.team, free.c.pool),
                                       order_by=free.c.slot_no)  # fmt: skip
    locked = (
        sa.select(free.c.team, free.c.pool, free.c.slot_no, number.label("k"))
        .select_from(need.join(free, sa.true()))
        .cte("locked")
        .prefix_with("MATERIALIZED")
    )

    room = (
        sa.select(sa.func.count())
        .where(locked.c.team == claims.c.team, locked.c.pool == claims.c.pool)
        .scalar_subquery()
    )
    fits = sa.select(claims).where(claims.c.upto <= room).cte("fits")

    fresh = fresh_try(TI.try_number + 1, now)
    values = {**fresh, "state": TaskState.QUEUED, "token_digest": fits.c.token}
    moved = (
        task_instances.update()
        .where(TI.id == fits.c.id, TI.try_number == fits.c.try_number)
        .where(TI.state == fits.c.expected, *fencing.task_conditions("postgresql"))
        .values(values)
        .returning(
            TI.id,
            TI.run_pk,
            TI.try_number,
            fits.c.expected,
            fits.c.team,
            fits.c.pool,
            fits.c.needs,
            fits.c.upto,
        )
        .cte("moved")
    )

    share = sa.and_(
        locked.c.team == moved.c.team,
        locked.c.pool == moved.c.pool,
        locked.c.k > moved.c.upto - moved.c.needs,
        locked.c.k <= moved.c.upto,
    )
    assign = (
        sa.select(moved.c.id, locked.c.team, locked.c.pool, locked.c.slot_no)
        .join_from(moved, locked, share)
        .subquery("assign")
    )
    given = (
        pool_slots.update()
        .where(S.team == assign.c.team, S.pool == assign.c.pool)
        .where(S.slot_no == assign.c.slot_no, S.ti_id.is_(None))
        .values(ti_id=assign.c.id)
        .returning(S.slot_no)
        .cte("given")
    )

    recorded = recorded_moves(moved, moved.c.expected, TaskState.QUEUED)
    attempted = (
        task_attempts.insert()
        .from_select(
            ["ti_id", "try_number", "state", "queued_at", "code_version"],
            sa.select(
                moved.c.id,
                moved.c.try_number,
                sa.cast(sa.literal(str(TaskState.QUEUED)), sa.String),
                sa.cast(now, UtcDateTime),
                dag_runs.c.code_version,
            ).join_from(moved, dag_runs, dag_runs.c.id == moved.c.run_pk),
        )
        .cte("attempted")
    )

    lacking = sa.select(sa.func.array_agg(need.c.team)).where(
        need.c.pool == DEFAULT_POOL,
        ~sa.exists().where(pools.c.team == need.c.team, pools.c.name == DEFAULT_POOL),
    )

    def each(column: Any) -> Any:  # the moved rows' values, in one order (by id)
        ordered = postgresql.aggregate_order_by(column, moved.c.id)
        return sa.select(sa.func.array_agg(ordered)).scalar_subquery()

    return sa.select(
        each(moved.c.id),
        each(moved.c.run_pk),
        each(moved.c.try_number),
        sa.select(sa.func.count()).select_from(given).scalar_subquery(),
        sa.select(sa.func.sum(moved.c.needs)).scalar_subquery(),
        lacking.scalar_subquery(),
    ).add_cte(recorded, attempted)


def recorded_moves(moved: sa.CTE, from_state: Any, to: TaskState) -> sa.CTE:
    """The `task_transitions` rows of the task rows `moved` returned (`id`, `run_pk`,
    `try_number`), as `guards._record_moves` writes them: from `from_state` (a column or a
    literal) to `to`, by the actor and epoch bound as `b_actor` / `b_epoch`, at the database's
    time. Shared by the queue's statement and a worker's (attemptfold)."""
    return (
        task_transitions.insert()
        .from_select(
            ["ti_id", "run_pk", "try_number", "from_state", "to_state", "actor", "epoch", "at"],
            sa.select(
                moved.c.id,
                moved.c.run_pk,
                moved.c.try_number,
                from_state,
                sa.cast(sa.literal(str(to)), sa.String),
                sa.cast(sa.bindparam("b_actor", type_=sa.String()), sa.String),
                sa.cast(sa.bindparam("b_epoch", type_=sa.BigInteger()), sa.BigInteger),
                sa.func.timezone("UTC", sa.func.now()),  # guards.db_timestamp on PostgreSQL
            ),
        )
        .cte("recorded")
    )
