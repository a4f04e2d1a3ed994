"""The one guarded state change: every move of a run or a task instance goes through here.

`guarded_update` turns a move into one `UPDATE ... WHERE <row> AND state IN (<sources>)`.
The sources are the states the transition tables in `brisa.core.states` allow the move from,
narrowed to what the caller expects (the state it read, or the states its verb is about). A
move the table forbids, and a race lost to another writer, both change nothing and report 0
rows, so no verb keeps a state list of its own. See docs/adr/0002-store-guarded-updates.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from brisa.core.states import ACTIVE_TASK_STATES, RunState, TaskState, run_sources, task_sources
from brisa.store import changes, fencing, pools
from brisa.store.tables import dag_runs, task_instances

State = RunState | TaskState

# The table whose rows each lifecycle describes.
_TABLE_OF: dict[type[State], sa.Table] = {RunState: dag_runs, TaskState: task_instances}


def _allowed_sources(to: State, expected: State | Iterable[State] | None = None) -> frozenset[str]:
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
    if table is not _TABLE_OF[type(to)]:
        raise TypeError(f"a {type(to).__name__} does not describe rows of {table.name}")
    sources = _allowed_sources(to, expected)
    if not sources:
        return 0
    dialect = conn.dialect.name
    fenced = (
        fencing.task_conditions(dialect) if table is task_instances else fencing.conditions(dialect)
    )
    statement = (
        table.update()
        .where(*where, table.c.state.in_(sorted(sources)), *fenced)
        .values({**(values or {}), "state": to})
        .returning(*_CHANGED[table.name])
    )
    rows = conn.execute(statement).all()
    if isinstance(to, TaskState) and to not in ACTIVE_TASK_STATES and sources & ACTIVE_TASK_STATES:
        # A task leaving queued or running gives its pool slots back (ADR 0020).
        pools.release_slots(conn, [row.id for row in rows])
    changes.record(conn, (topic for row in rows for topic in _topics(table, row)))
    return len(rows)


# What a moved row tells the change outbox.
_CHANGED = {
    "dag_runs": (dag_runs.c.id, dag_runs.c.team, dag_runs.c.dag_id),
    "task_instances": (task_instances.c.id, task_instances.c.run_pk, task_instances.c.try_number),
}


def _topics(table: sa.Table, row: sa.Row[Any]) -> list[str]:
    if table is dag_runs:
        return changes.run_topics(row.team, row.dag_id, row.id)
    return [f"run:{row.run_pk}", f"attempt:{row.id}/{row.try_number}", "health"]
