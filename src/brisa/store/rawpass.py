"""A scheduling pass's statements on SQLite's own cursor (ADR 0027, s22 amendment).

A pass on SQLite is about ten statements (its reads: the outbox, the catalog stamp, the
pool book, the changed runs; its write: the free slots, the guarded move, its transition
records, its change notes, the slots' assignment, the attempt rows). Each is built once
(s21), but each still took SQLAlchemy's per-statement path: its execution context, its
events, its cursor wrapper and result object — most of a pass's CPU that is not `sqlite3`
itself or the planner. `run` takes the same statement, compiled once per statement and set
of columns, and runs it on the DB-API cursor of the caller's connection, in the caller's
transaction: its values bound through the columns' bind processors (an expanding `IN`
expanded by SQLAlchemy's own `construct_expanded_state`), its answer read through their
result processors. Nothing else changes: the same SQL text, the same guards and fence
conditions (they are in the statements), the same transaction (BEGIN and COMMIT are still
SQLAlchemy's, with its `begin` listener's BEGIN IMMEDIATE), and the engine's
`before_cursor_execute` listeners still hear every statement (the statement timeout's
deadline; the tests' statement counts). A statement that needs SQLAlchemy's execution
context (a Python-side column default) takes `conn.execute`, as does every statement on
PostgreSQL (its paths are unchanged). `store/rawmoves.py` does the same for a worker's
start and finish, with statements of its own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


class Answer:
    """The rows a statement run on the raw cursor answered (named tuples, each column
    through its result processor) and how many rows it changed; as much of SQLAlchemy's
    result as the pass's callers use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise sa.exc.NoResultFound(f"{len(self._rows)} rows, one expected")
        return self._rows[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self._rows]


class Compiled:
    """One statement compiled for SQLite with the columns `keys`, and its answer's shape."""

    def __init__(self, statement: Any, dialect: sa.Dialect, keys: list[str]) -> None:
        self.compiled = statement.compile(dialect=dialect, column_keys=keys or None)
        self.plain = not (self.compiled.insert_prefetch or self.compiled.update_prefetch)
        # The processors of its bound values (an expanded list's: added at each execution).
        self.processors: dict[str, Any] = dict(self.compiled._bind_processors)
        # Without an expanding list its text and the order of its values are known now.
        self.fixed = not (self.compiled.literal_execute_params or self.compiled.post_compile_params)
        binds = [(name, self.compiled.binds[name]) for name in self.compiled.positiontup or ()]
        self.order = [
            (name, self.processors.get(name), bind.required, bind.effective_value)
            for name, bind in binds
        ]
        columns = list(getattr(statement, "exported_columns", ()) or ())
        processors = [c.type._cached_result_processor(dialect, None) for c in columns]
        self.answer = [(k, p) for k, p in enumerate(processors) if p is not None]
        names = [str(c.key) for c in columns]
        self.row: Any = namedtuple("Row", names, rename=True) if columns else None

    def bound(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL text of one execution and its positional values, processed."""
        if self.fixed:  # a value not given is the statement's own (a literal's)
            out = []
            for name, process, required, own in self.order:
                value = values[name] if required else values.get(name, own)
                out.append(value if process is None else process(value))
            return self.compiled.string, out
        state = self.compiled.construct_expanded_state(dict(values))
        params, processors = state.parameters, self.processors
        if state.processors:
            processors = {**processors, **state.processors}
        out = []
        for name in state.positiontup or ():
            process = processors.get(name)
            out.append(params[name] if process is None else process(params[name]))
        return state.statement, out

    def rows(self, raw: Sequence[Any]) -> list[Any]:
        if self.row is None:
            return []
        make, processors = self.row._make, self.answer
        if not processors:
            return [make(row) for row in raw]
        rows = []
        for row in raw:
            values = list(row)
            for k, process in processors:
                values[k] = process(values[k])
            rows.append(make(values))
        return rows


_COMPILED: dict[tuple[int, tuple[str, ...]], tuple[Any, Compiled]] = {}
_LOCK = threading.Lock()
_MOST = 1024  # statements kept compiled (a pass's are a few dozen shapes)


def compiled(statement: Any, dialect: sa.Dialect, keys: Sequence[str]) -> Compiled:
    """`statement` compiled for `dialect` with the columns `keys`, once (kept by identity)."""
    key = (id(statement), tuple(keys))
    found = _COMPILED.get(key)
    if found is not None and found[0] is statement:
        return found[1]
    made = Compiled(statement, dialect, list(keys))
    with _LOCK:
        if len(_COMPILED) >= _MOST:
            _COMPILED.clear()
        _COMPILED[key] = (statement, made)  # the statement kept: its id is not reused
    return made


def run(conn: sa.Connection, statement: Any, params: Params = None) -> Any:
    """`conn.execute(statement, params)`, on the raw cursor on SQLite (see the module's
    docstring): an `Answer`; elsewhere SQLAlchemy's result. `params`: one mapping, or a
    list of them for an executemany (no answer)."""
    if conn.dialect.driver != "pysqlite":
        return conn.execute(statement, params)
    many = isinstance(params, Sequence)
    rows = list(params) if isinstance(params, Sequence) else [params or {}]
    if not rows:
        return conn.execute(statement, params)
    shape = compiled(statement, conn.dialect, sorted(rows[0]))
    if not shape.plain:
        return conn.execute(statement, params)
    bound = [shape.bound(values) for values in rows]
    sql = bound[0][0]
    if any(text != sql for text, _ in bound):
        return conn.execute(statement, params)  # expanded differently per row: not here
    if not conn.in_transaction():
        conn.begin()  # as `execute` autobegins: the engine's `begin` listener issues BEGIN
    raw, count = cursor_execute(conn, sql, [values for _, values in bound], many)
    return Answer(shape.rows(raw), count)


def cursor_execute(
    conn: sa.Connection, sql: str, values: list[list[Any]], many: bool
) -> tuple[Sequence[Any], int]:
    """`sql` on `conn`'s DB-API cursor, once per element of `values` (`many`) or with the
    one, heard by the engine's `before_cursor_execute` listeners: the rows it answered, as
    the driver gives them, and how many it changed; a driver error raised as SQLAlchemy's."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        if conn._has_events or conn.engine._has_events:
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, sql, values if many else values[0], None, many)
        if many:
            cursor.executemany(sql, values)
            return [], cursor.rowcount
        cursor.execute(sql, values[0])
        rows: Sequence[Any] = cursor.fetchall() if cursor.description else []
        return rows, cursor.rowcount
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc
    finally:
        cursor.close()


def driver_sql(dbapi: Any, sql: str) -> None:
    """`sql` (no values: BEGIN, COMMIT, ROLLBACK) on a DB-API connection of SQLite, a driver
    error raised as SQLAlchemy's."""
    try:
        dbapi.execute(sql)
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc
