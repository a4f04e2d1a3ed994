"""A worker's start and finish in one statement on PostgreSQL (ADR 0036).

`guards.PreparedMove` makes a worker's move in four statements (the guarded update, its
transition record, its change note, then the attempt row; a start reads its item in a fifth).
On PostgreSQL they are the CTEs of one statement here, each fed by the guarded move:

1. `moved`: the task instance's move, guarded as `PreparedMove`'s (its id, try, the digest
   of the presented token, the one source state the transition table allows), no fence (a
   scheduler's pass never makes these moves: under a fence the caller takes
   `PreparedMove`, which is `guarded_update` then);
2. `attempted`: the attempt row of that try, updated from the moved row;
3. `recorded`: the move in `task_transitions`, with the actor and epoch of
   `actors.current()` and the database's time, as `guards._record_moves` writes it;
4. `noted`: the change outbox's rows for the topics of `guards.task_topics`, in the order
   `changes.record` inserts them (sorted).

The statement answers the moved row (none: the guard refused, nothing was written); a
start's answer has its run's columns too, joined in the same statement. A finish that moves
a task out of running still gives its pool slots back after it, in its transaction
(`pools.release_slots`). The statements are built once per move and bound at each call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from brisa.core.states import TaskState
from brisa.store import actors, changes
from brisa.store.queuefold import recorded_moves
from brisa.store.tables import (
    UtcDateTime,
    dag_runs,
    task_attempts,
    task_instances,
)
from brisa.store.tables import changes as outbox

TI = task_instances.c
A = task_attempts.c


def fold(
    to: TaskState,
    expected: TaskState,
    *,
    sets: Sequence[str],
    attempt: Mapping[str, str],
    answer: Sequence[str] = ("id", "run_pk", "try_number"),
    run_columns: Sequence[sa.Column[Any]] = (),
) -> sa.Select[Any]:
    """The statement of one worker move: task instance columns `sets` bound as `v_<name>`,
    the row matched by `w_id`, `w_try_number`, `w_token_digest`; `attempt`: the attempt
    row's column -> the name of its bound value; `answer`: the moved row's columns answered,
    with `run_columns` of its run after them."""
    moved = (
        task_instances.update()
        .where(
            TI.id == sa.bindparam("w_id"),
            TI.try_number == sa.bindparam("w_try_number"),
            TI.token_digest == sa.bindparam("w_token_digest"),
            TI.state == str(expected),
        )
        .values({**{name: sa.bindparam(f"v_{name}") for name in sets}, "state": to})
        .returning(*(TI[name] for name in dict.fromkeys((*answer, "id", "run_pk", "try_number"))))
        .cte("moved")
    )
    attempted = (
        task_attempts.update()
        .where(A.ti_id == moved.c.id, A.try_number == moved.c.try_number)
        .values(
            {
                "state": str(to),
                **{
                    column: sa.bindparam(name, type_=A[column].type)
                    for column, name in attempt.items()
                },
            }
        )
        .cte("attempted")
    )
    recorded = recorded_moves(moved, sa.cast(sa.literal(str(expected)), sa.String), to)
    noted = _noted(moved)
    answered = sa.select(*(moved.c[name] for name in answer), *run_columns)
    if run_columns:
        answered = answered.join_from(moved, dag_runs, dag_runs.c.id == moved.c.run_pk)
    return answered.add_cte(attempted, recorded, noted)


def _noted(moved: sa.CTE) -> sa.CTE:
    """The outbox's rows of `guards.task_topics`, sorted as `changes.record` inserts them."""
    ti_id, run_pk = sa.cast(moved.c.id, sa.String), sa.cast(moved.c.run_pk, sa.String)
    topics = postgresql.array(
        [
            "attempt:" + ti_id + "/" + sa.cast(moved.c.try_number, sa.String),
            sa.cast(sa.literal("health"), sa.String),
            "run:" + run_pk,
        ]
    )
    return (
        outbox.insert()
        .from_select(
            ["topic", "at"],
            sa.select(
                sa.func.unnest(topics),
                sa.cast(sa.bindparam("c_at", type_=UtcDateTime()), UtcDateTime),
            ).select_from(moved),
        )
        .cte("noted")
    )


def run(
    conn: sa.Connection,
    statement: sa.Select[Any],
    where: Mapping[str, Any],
    values: Mapping[str, Any],
) -> sa.Row[Any] | None:
    """Execute a `fold` statement; the answer's row, or None when nothing moved. `where`:
    id, try_number, token_digest; `values`: the task instance's (the attempt row's are
    bound by the same names)."""
    actor, epoch = actors.current()
    params = {f"w_{name}": value for name, value in where.items()}
    params.update((f"v_{name}", value) for name, value in values.items())
    params.update(b_actor=actor, b_epoch=epoch, c_at=datetime.now(UTC))
    row = conn.execute(statement, params).first()
    if row is not None:
        changes.noted(conn)
    return row
