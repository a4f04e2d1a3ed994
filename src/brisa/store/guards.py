"""The one guarded state change: every move of a run or a task instance goes through here.

`guarded_update` turns a move into one `UPDATE ... WHERE <row> AND state IN (<sources>)`.
The sources are the states the transition tables in `brisa.core.states` allow the move from,
narrowed to what the caller expects (the state it read, or the states its verb is about). A
move the table forbids, and a race lost to another writer, both change nothing and report 0
rows, so no verb keeps a state list of its own. See docs/adr/0002-store-guarded-updates.md.

Each task instance it moves is recorded in `task_transitions` in the same transaction: its
previous state, its try, the acting actor and epoch (`actors.current()`), the database's time.
The previous state must be the one the UPDATE really moved the row from, also under
PostgreSQL's READ COMMITTED where a concurrent writer may move the row between our snapshot
and our UPDATE (which then re-checks the guard on the newest version). When the guard allows a
single source state (every move with an `expected` state: the scheduler's, a worker's start
and finish, clear and mark), a moved row can only have come from that state, so nothing is
read. When it allows several (cancelling a run's tasks), the rows are first read and locked
(`SELECT ... FOR UPDATE`, which on PostgreSQL waits for a concurrent writer and returns the
newest version) and the UPDATE is narrowed to them: no one can move them in between. SQLite
runs one write transaction at a time, so the same read is exact there.

The scheduler's queue move on PostgreSQL (`queuefold`) is the one move written elsewhere: a
statement of its own that folds the slots and records in; it takes its sources from
`allowed_sources`, its fencing from `fencing.task_conditions` and its notes from
`task_topics`, as the moves here do.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from brisa.core.states import ACTIVE_TASK_STATES, RunState, TaskState, run_sources, task_sources
from brisa.store import actors, changes, fencing, pools, rawpass
from brisa.store.tables import dag_runs, task_instances, task_transitions

State = RunState | TaskState

# The table whose rows each lifecycle describes.
_TABLE_OF: dict[type[State], sa.Table] = {RunState: dag_runs, TaskState: task_instances}


def allowed_sources(to: State, expected: State | Iterable[State] | None = None) -> frozenset[str]:
    """The states a row may be in for a move to `to`: the table's sources, narrowed to
    `expected` when given. Empty when the table allows none of the expected states."""
    sources: frozenset[str] = run_sources(to) if isinstance(to, RunState) else task_sources(to)
    if expected is None:
        return sources
    if isinstance(expected, RunState | TaskState):
        expected = [expected]
    return sources & set(expected)


def guarded_update(
    conn: sa.Connection,
    table: sa.Table,
    to: State,
    *where: sa.ColumnElement[bool],
    expected: State | Iterable[State] | None = None,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Move the rows of `table` matching `where` to state `to` (setting `values` too) if their
    current state is one the table allows the move from (and one of `expected`, if given).

    Returns the number of rows moved: 0 means the move is refused or lost a race, and nothing
    was written. `table` must be the one `to`'s lifecycle describes (dag_runs for a RunState,
    task_instances for a TaskState). The moved rows are noted in the change outbox
    (`changes.record`) in the same transaction, and a task that leaves queued or running
    gives its pool slots back in it (`pools.release_slots`).
    """
    return len(guarded_rows(conn, table, to, *where, expected=expected, values=values))


def guarded_rows(
    conn: sa.Connection,
    table: sa.Table,
    to: State,
    *where: sa.ColumnElement[bool],
    expected: State | Iterable[State] | None = None,
    values: Mapping[str, Any] | None = None,
) -> list[int]:
    """`guarded_update`, answering the ids of the rows moved."""
    if table is not _TABLE_OF[type(to)]:
        raise TypeError(f"a {type(to).__name__} does not describe rows of {table.name}")
    sources = allowed_sources(to, expected)
    if not sources:
        return []
    dialect = conn.dialect.name
    fenced = (
        fencing.task_conditions(dialect) if table is task_instances else fencing.conditions(dialect)
    )
    guard = table.c.state.in_(sorted(sources))
    before: dict[int, str] = {}
    if table is task_instances and len(sources) > 1:
        locked = sa.select(table.c.id, table.c.state).where(*where, guard, *fenced)
        before = {row.id: row.state for row in conn.execute(locked.with_for_update())}
        if not before:
            return []
        where = (table.c.id.in_(sorted(before)),)
    statement = (
        table.update()
        .where(*where, guard, *fenced)
        .values({**(values or {}), "state": to})
        .returning(*_CHANGED[table.name])
    )
    rows = conn.execute(statement).all()
    if isinstance(to, TaskState) and to not in ACTIVE_TASK_STATES and sources & ACTIVE_TASK_STATES:
        # A task leaving queued or running gives its pool slots back (ADR 0020).
        pools.release_slots(conn, [row.id for row in rows])
    if table is task_instances and rows:
        single = next(iter(sources)) if len(sources) == 1 else None
        moved = [(row.id, row.run_pk, row.try_number, before.get(row.id, single)) for row in rows]
        _record_moves(conn, moved, to)
    changes.record(conn, (topic for row in rows for topic in _topics(table, row)))
    return [row.id for row in rows]


class PreparedMove:
    """One task instance's guarded move whose statement is built once: the execution API's
    hot path (a worker's start and finish, ADR 0032). `move(conn, where, values)` is
    `guarded_update(conn, task_instances, to, <column == where[column]>..., expected=expected,
    values=values)`, with the same guard, pool slots, transition record and change note; only
    the values are bound at each call (building the statement and its cache key anew was
    about a third of a start's and a finish's CPU). Under a fence (a scheduler's pass) it is
    `guarded_update` itself, whose fencing conditions change with the fence."""

    def __init__(
        self,
        to: TaskState,
        expected: TaskState,
        *,
        match: Sequence[str],
        sets: Sequence[str],
        answer: Sequence[sa.ColumnElement[Any]] = (),
    ) -> None:
        sources = allowed_sources(to, expected)
        if len(sources) != 1:
            raise ValueError(f"a move to {to} from {expected} is not allowed")
        self.to, self.expected = to, expected
        self.releases = to not in ACTIVE_TASK_STATES and bool(sources & ACTIVE_TASK_STATES)
        ti = task_instances.c
        # What the moved row answers: `answer` (holding the change note's columns) or those.
        self._answer = list(answer or _CHANGED["task_instances"])
        if not {c.name for c in _CHANGED["task_instances"]} <= {c.name for c in self._answer}:
            raise ValueError("a move answers the id, run_pk and try_number of its row")
        self.statement = (
            task_instances.update()
            .where(*(ti[name] == sa.bindparam(f"w_{name}") for name in match))
            .where(ti.state == str(expected))
            .values({**{name: sa.bindparam(f"v_{name}") for name in sets}, "state": to})
            .returning(*self._answer)
        )

    def move(self, conn: sa.Connection, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        """Move the row matching `where` (column -> value); 0 when refused or lost."""
        return len(self.moved(conn, where, values))

    def moved(
        self, conn: sa.Connection, where: Mapping[str, Any], values: Mapping[str, Any]
    ) -> list[sa.Row[Any]]:
        """`move`, answering the moved row's `answer` columns (SQLite returns them with the
        move: correlated subqueries in RETURNING read a start's run without a statement)."""
        if fencing.current() is not None:
            ti = task_instances.c
            conditions = [ti[name] == value for name, value in where.items()]
            ids = guarded_rows(
                conn, task_instances, self.to, *conditions, expected=self.expected, values=values
            )
            if not ids:
                return []
            return list(conn.execute(sa.select(*self._answer).where(ti.id.in_(ids))).all())
        params = {f"w_{name}": value for name, value in where.items()}
        params.update((f"v_{name}", value) for name, value in values.items())
        rows = conn.execute(self.statement, params).all()
        if not rows:
            return []
        if self.releases:
            pools.release_slots(conn, [row.id for row in rows])
        moved: list[tuple[int, int, int, str | None]] = [
            (row.id, row.run_pk, row.try_number, str(self.expected)) for row in rows
        ]
        _record_moves(conn, moved, self.to)
        changes.record(conn, (topic for row in rows for topic in _topics(task_instances, row)))
        return list(rows)


def guarded_task_moves(
    conn: sa.Connection,
    to: TaskState,
    tries: Sequence[tuple[int, int, TaskState]],
    *,
    values: Mapping[str, Any] | None = None,
    per_task: Mapping[str, Mapping[int, Any]] | None = None,
) -> list[int]:
    """Move many task instances to `to` in one statement: each `(ti_id, try_number,
    expected)` only from its own `expected` state at its own try, as `guarded_update` moves
    one. `per_task`: column -> {ti_id: value} for values that differ between the rows.

    Returns the ids moved (the others lost their race or are refused by the table), with
    the same transition records, change notes and fencing as `guarded_update`. Only for
    moves from a single source state each, out of a state that holds no pool slots."""
    allowed = [(i, t, e) for i, t, e in tries if allowed_sources(to, e)]
    if not allowed:
        return []
    if any(e in ACTIVE_TASK_STATES for _, _, e in allowed) and to not in ACTIVE_TASK_STATES:
        raise ValueError("batched moves do not release pool slots: use guarded_update")
    allowed = list({i: (i, t, e) for i, t, e in allowed}.values())  # once per task
    if conn.dialect.name == "postgresql":
        statement = _moves_from_arrays(to, allowed, values or {}, per_task or {})
        statement = statement.where(*fencing.task_conditions(conn.dialect.name)).returning(
            *_CHANGED["task_instances"]
        )
        rows = conn.execute(statement).all()
    else:
        rows = rawpass.run(conn, *_moves_by_case(to, allowed, values or {}, per_task or {})).all()
    if rows:
        prior = {i: e for i, _, e in allowed}
        _record_moves(conn, [(r.id, r.run_pk, r.try_number, prior[r.id]) for r in rows], to)
    changes.record(conn, (topic for row in rows for topic in _topics(task_instances, row)))
    return [row.id for row in rows]


Tries = Sequence[tuple[int, int, TaskState]]


def _moves_from_arrays(
    to: TaskState,
    tries: Tries,
    values: Mapping[str, Any],
    per_task: Mapping[str, Mapping[int, Any]],
) -> sa.Update:
    """PostgreSQL: `UPDATE ... FROM unnest(ids, tries, states, ...)`, joined on the primary
    key. One array parameter per column whatever the batch size, so the statement's text is
    the same on every pass (cached by SQLAlchemy, prepared by the driver)."""
    ti = task_instances.c
    ids = [i for i, _, _ in tries]
    columns: dict[str, tuple[sa.types.TypeEngine[Any], list[Any]]] = {
        "id": (ti.id.type, ids),
        "try_number": (ti.try_number.type, [t for _, t, _ in tries]),
        "expected": (ti.state.type, [str(e) for _, _, e in tries]),
    }
    for column, by_id in per_task.items():
        columns[f"new_{column}"] = (ti[column].type, [by_id.get(i) for i in ids])
    arrays = [sa.literal(data, postgresql.ARRAY(kind)) for kind, data in columns.values()]
    batch = (
        sa.func.unnest(*arrays)
        .table_valued(*columns, name="batch")
        .render_derived(with_types=False)
    )
    row_values: dict[str, Any] = {**values, "state": to}
    row_values.update({column: batch.c[f"new_{column}"] for column in per_task})
    return (
        task_instances.update()
        .where(ti.id == batch.c.id, ti.try_number == batch.c.try_number)
        .where(ti.state == batch.c.expected)
        .values(row_values)
    )


def _moves_by_case(
    to: TaskState,
    tries: Tries,
    values: Mapping[str, Any],
    per_task: Mapping[str, Mapping[int, Any]],
) -> tuple[sa.Update, dict[str, Any]]:
    """SQLite: `WHERE id IN (...) AND (id, try, state) IN (...)`, per-task values by `CASE`;
    the statement (fenced, answering the moved rows) and its values. Built once per shape
    and bound at each call (`_case_moves`): `values` are plain values, not expressions."""
    statement = _case_moves(to, len(tries), tuple(values), tuple(per_task), fencing.current())
    params: dict[str, Any] = {
        "m_ids": [i for i, _, _ in tries],
        "m_key": [(i, t, str(e)) for i, t, e in tries],
    }
    params.update((f"m_v_{column}", value) for column, value in values.items())
    for k, (ti_id, _, _) in enumerate(tries):
        params[f"m_i{k}"] = ti_id
        params.update((f"m_{column}_{k}", by_id.get(ti_id)) for column, by_id in per_task.items())
    return statement, params


@functools.lru_cache(maxsize=64)
def _case_moves(
    to: TaskState,
    count: int,
    columns: tuple[str, ...],
    per_task: tuple[str, ...],
    fence: fencing.Fence | None,
) -> sa.Update:
    """`_moves_by_case`'s statement for `count` tasks: `m_ids`, `m_key` (expanding), the
    columns' values `m_v_<column>`, per task k its id `m_i<k>` and values `m_<column>_<k>`.
    `fence`: the one current while it is built (its conditions are in the statement)."""
    ti = task_instances.c
    key = sa.tuple_(ti.id, ti.try_number, ti.state).in_(sa.bindparam("m_key", expanding=True))
    row_values: dict[str, Any] = {c: sa.bindparam(f"m_v_{c}", type_=ti[c].type) for c in columns}
    row_values["state"] = to
    for column in per_task:
        whens = [(ti.id == sa.bindparam(f"m_i{k}"), sa.bindparam(f"m_{column}_{k}",
                  type_=ti[column].type)) for k in range(count)]  # fmt: skip
        row_values[column] = sa.case(*whens)
    ids: sa.BindParameter[list[int]] = sa.bindparam("m_ids", expanding=True)
    conditions = fencing.task_conditions("sqlite") if fence is not None else []
    return (
        task_instances.update()
        .where(ti.id.in_(ids), key, *conditions)  # the id list: by primary key
        .values(row_values)
        .returning(*_CHANGED["task_instances"])
    )


def _record_moves(
    conn: sa.Connection, moved: list[tuple[int, int, int, str | None]], to: State
) -> None:
    """Note the moves of task instances (id, run, try, previous state) in `task_transitions`."""
    actor, epoch = actors.current()
    rows = [
        {
            "ti_id": ti_id,
            "run_pk": run_pk,
            "try_number": try_number,
            "from_state": str(prior),
            "to_state": str(to),
            "actor": actor,
            "epoch": epoch,
        }
        for ti_id, run_pk, try_number, prior in moved
    ]
    rawpass.run(conn, transition_insert(conn.dialect.name), rows)


_TRANSITION_INSERTS: dict[str, sa.Insert] = {}


def transition_insert(dialect: str) -> sa.Insert:
    """The insert of transition records, stamped with the database's time: built once per
    dialect (a statement built anew is built, and its cache key computed, at every call)."""
    statement = _TRANSITION_INSERTS.get(dialect)
    if statement is None:
        statement = task_transitions.insert().values(at=_db_timestamp(dialect))
        _TRANSITION_INSERTS[dialect] = statement
    return statement


def db_timestamp(conn: sa.Connection) -> sa.ColumnElement[Any]:
    """The database's current time, as a UTC timestamp without zone (how UtcDateTime stores)."""
    return _db_timestamp(conn.dialect.name)


def _db_timestamp(dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.func.timezone("UTC", sa.func.now())
    return sa.func.strftime("%Y-%m-%d %H:%M:%f", "now")


# What a moved row tells the change outbox.
_CHANGED = {
    "dag_runs": (dag_runs.c.id, dag_runs.c.team, dag_runs.c.dag_id),
    "task_instances": (task_instances.c.id, task_instances.c.run_pk, task_instances.c.try_number),
}


def _topics(table: sa.Table, row: sa.Row[Any]) -> list[str]:
    if table is dag_runs:
        return changes.run_topics(row.team, row.dag_id, row.id)
    return task_topics(row.id, row.run_pk, row.try_number)


def task_topics(ti_id: int, run_pk: int, try_number: int) -> list[str]:
    """What the move of a task instance notes in the change outbox."""
    return [f"run:{run_pk}", f"attempt:{ti_id}/{try_number}", "health"]
