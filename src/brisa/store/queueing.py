"""Batched scheduler writes: a pass's run moves and queued tasks, in one transaction.

`RunStore.queue_task` queues one task per transaction (six statements and a commit, each
commit an fsync on PostgreSQL). A scheduling pass queues up to its executor's free slots at
once, so `queue_tasks` does the same work for the whole batch in a fixed number of statements
and one commit (docs/adr/0022-incremental-scheduler-snapshots.md); `write_pass` applies the
pass's run moves first in the same transaction (docs/adr/0027-fewer-round-trips-per-pass.md),
so that a run and its first tasks start together (a task of a run whose move failed is not
queued):

1. lock the free pool slots the batch needs (`FOR UPDATE SKIP LOCKED`, per pool, in the
   planner's order; claims that do not fit drop out);
2. one guarded move of the tasks that fit, each from its own expected state and try
   (`guards.guarded_task_moves`: fenced, recorded in `task_transitions` and the outbox);
3. the locked slots given to the tasks that moved; the others' locks end with the commit;
4. one insert of their attempt rows.

A task that lost its race (another scheduler queued it, a user cleared it) is simply not in
the answer, as `queue_task` answers False for it.

On PostgreSQL steps 1-4 are one statement (`queuefold`, docs/adr/0031-one-statement-queue-move.md):
the same guards, one round trip.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from brisa.core.pools import DEFAULT_POOL, DEFAULT_SLOTS, PoolClaim
from brisa.core.states import FINISHED_RUN_STATES, FINISHED_TASK_STATES, RunState, TaskState
from brisa.store import changes, rawpass
from brisa.store.engine import WRITE
from brisa.store.guards import allowed_sources, guarded_rows, guarded_task_moves
from brisa.store.pools import assign_slots, create_default_pool, lock_free_slots
from brisa.store.queuefold import fresh_try, queue_in_one
from brisa.store.tables import dag_runs, task_attempts, task_instances


@dataclass(frozen=True)
class QueueItem:
    """One task to queue: from `expected` at `try_number`, as try `try_number + 1` whose
    token has `token_digest`; `pool`: the slots it takes (None: one of its team's default)."""

    ti_id: int
    expected: TaskState
    try_number: int
    token_digest: str | None = None
    pool: PoolClaim | None = None
    run_pk: int | None = None  # its run: not queued if the same pass's move of it failed


@dataclass(frozen=True)
class RunMove:
    run_pk: int
    state: RunState
    expected: RunState | None = None


class QueueStore:
    engine: sa.Engine
    default_pool_slots: int = DEFAULT_SLOTS

    @cached_property
    def _batch_writer(self) -> sa.Engine:
        """Made once (as `AttemptStore._hot`: a new engine object at every pass otherwise)."""
        return self.engine.execution_options(**WRITE)

    def queue_tasks(self, items: Sequence[QueueItem], now: datetime) -> set[int]:
        """Queue the tasks of `items` that may be (see the module docstring) in one
        transaction; returns the ids queued."""
        return self.write_pass((), items, now)[1]

    def set_run_states(self, moves: Sequence[RunMove], now: datetime) -> set[int]:
        """`set_run_state` for many runs in one transaction (one guarded UPDATE per target
        and expected state); returns the run ids moved."""
        return self.write_pass(moves, (), now)[0]

    def write_pass(
        self, moves: Sequence[RunMove], items: Sequence[QueueItem], now: datetime
    ) -> tuple[set[int], set[int]]:
        """A pass's run moves, then its queued tasks, in one transaction (one commit):
        `set_run_states` and `queue_tasks` together; returns (runs moved, tasks queued).
        A task whose run this pass meant to move (a queued run starting, its first tasks
        queued with it) is left alone when that move did not take effect."""
        if not moves and not items:
            return set(), set()
        with self._batch_writer.begin() as conn, changes.gathered(conn):
            moved = _move_runs(conn, moves, now)
            unmoved = {move.run_pk for move in moves} - moved
            batch = [item for item in items if item.run_pk not in unmoved] if unmoved else items
            return moved, _queue(conn, batch, now, self.default_pool_slots)


def _move_runs(conn: sa.Connection, moves: Sequence[RunMove], now: datetime) -> set[int]:
    groups: dict[tuple[RunState, RunState | None], list[int]] = defaultdict(list)
    for move in moves:
        groups[(move.state, move.expected)].append(move.run_pk)
    moved: set[int] = set()
    for (new, expected), pks in groups.items():
        where: sa.ColumnElement[bool] = dag_runs.c.id.in_(sorted(pks))
        if new in (RunState.SUCCESS, RunState.FAILED):
            # Finished only while every task still is: a pass that saw the run's tasks all
            # done must not end it after a mark or clear has given a task back to pending
            # (its view is older than that write; the next pass sees the run again).
            where = sa.and_(where, ~_unfinished_task)
        values = _run(new, now)
        moved.update(guarded_rows(conn, dag_runs, new, where, expected=expected, values=values))
    return moved


_unfinished_task = sa.exists().where(
    task_instances.c.run_pk == dag_runs.c.id,
    task_instances.c.state.not_in(sorted(FINISHED_TASK_STATES)),
)


def _queue(
    conn: sa.Connection, items: Sequence[QueueItem], now: datetime, default_slots: int
) -> set[int]:
    if not items:
        return set()
    if conn.dialect.name == "postgresql":
        return _queue_in_one(conn, items, now, default_slots)
    claims = _claims(conn, items)
    shares: dict[tuple[str, str], dict[int, list[int]]] = {}
    for (team, pool), needs in _by_pool(items, claims).items():
        shares[(team, pool)] = lock_free_slots(conn, team, pool, needs, default_slots=default_slots)
    fits = {ti_id for share in shares.values() for ti_id in share}
    batch = [item for item in items if item.ti_id in fits]
    moved = set(_move(conn, batch, now))
    for (team, pool), share in shares.items():
        assign_slots(conn, team, pool, {i: s for i, s in share.items() if i in moved})
    if moved:
        tries = [(i.ti_id, i.try_number + 1) for i in batch if i.ti_id in moved]
        insert_attempts(conn, tries, now)
    return moved


def _queue_in_one(
    conn: sa.Connection, items: Sequence[QueueItem], now: datetime, default_slots: int
) -> set[int]:
    """PostgreSQL: the whole queue part in one statement (`queuefold`). A team whose default
    pool does not exist yet gets it, and its tasks are queued again (on its first use only)."""
    once = list({i.ti_id: i for i in items if allowed_sources(TaskState.QUEUED, i.expected)}
                .values())  # fmt: skip
    claims = _claims(conn, once) if any(i.pool is None for i in once) else {}
    batch = [
        (i.ti_id, i.try_number, i.expected, i.token_digest, i.pool or claims[i.ti_id]) for i in once
    ]
    done = queue_in_one(conn, batch, now)
    moved = {ti_id for ti_id, _, _ in done.moved}
    if done.missing:
        for team in sorted(done.missing):
            create_default_pool(conn, team, default_slots)
        again = [b for b in batch if b[4].name == DEFAULT_POOL and b[4].team in done.missing]
        moved |= {ti_id for ti_id, _, _ in queue_in_one(conn, again, now).moved}
    return moved


def _run(new: RunState, now: datetime) -> dict[str, Any]:
    """What a run's move to `new` sets besides its state (as `RunStore.set_run_state`)."""
    if new is RunState.RUNNING:
        start = sa.literal(now, dag_runs.c.start_date.type)
        return {"start_date": sa.func.coalesce(dag_runs.c.start_date, start), "end_date": None}
    if new in FINISHED_RUN_STATES:
        return {"end_date": now}
    return {}


def _claims(conn: sa.Connection, items: Sequence[QueueItem]) -> dict[int, PoolClaim]:
    """Each item's pool claim; those without one take one slot of their team's default pool
    (the team read for all of them in one statement)."""
    claims = {item.ti_id: item.pool for item in items if item.pool is not None}
    teamless = [item.ti_id for item in items if item.pool is None]
    if teamless:
        ti = task_instances.c
        query = (
            sa.select(ti.id, dag_runs.c.team)
            .join(dag_runs, dag_runs.c.id == ti.run_pk)
            .where(ti.id.in_(teamless))
        )
        teams = {ti_id: team for ti_id, team in conn.execute(query)}
        claims.update({i: PoolClaim(teams.get(i, ""), DEFAULT_POOL) for i in teamless})
    return claims


def _by_pool(
    items: Sequence[QueueItem], claims: dict[int, PoolClaim]
) -> dict[tuple[str, str], list[tuple[int, int]]]:
    needs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for item in items:
        claim = claims[item.ti_id]
        needs[(claim.team, claim.name)].append((item.ti_id, claim.slots))
    return needs


def _move(conn: sa.Connection, batch: list[QueueItem], now: datetime) -> list[int]:
    """The guarded move of the batch to queued, each as its next try, owned by the fence's
    holder when the pass is fenced."""
    if not batch:
        return []
    values = fresh_try(None, now)
    del values["try_number"]  # each its own, one after the try it is guarded at
    tries = [(item.ti_id, item.try_number, item.expected) for item in batch]
    per_task: dict[str, dict[int, Any]] = {
        "try_number": {item.ti_id: item.try_number + 1 for item in batch},
        "token_digest": {item.ti_id: item.token_digest for item in batch},
    }
    return guarded_task_moves(conn, TaskState.QUEUED, tries, values=values, per_task=per_task)


def insert_attempts(conn: sa.Connection, tries: Sequence[tuple[int, int]], now: datetime) -> None:
    """The rows of newly queued tries `(ti_id, try_number)`, each with the commit its run is
    pinned to now (one statement: the commit is read in it, so a re-pin cannot slip between)."""
    rows = [{"a_ti": ti_id, "a_try": number, "a_now": now} for ti_id, number in tries]
    rawpass.run(conn, _ATTEMPTS_INSERT, rows)


_ATTEMPTS_INSERT = task_attempts.insert().values(  # built once: the same at every pass
    ti_id=sa.bindparam("a_ti"),
    try_number=sa.bindparam("a_try"),
    state=TaskState.QUEUED,
    queued_at=sa.bindparam("a_now", type_=task_attempts.c.queued_at.type),
    code_version=(
        sa.select(dag_runs.c.code_version)
        .join(task_instances, task_instances.c.run_pk == dag_runs.c.id)
        .where(task_instances.c.id == sa.bindparam("a_ti"))
        .scalar_subquery()
    ),
)
