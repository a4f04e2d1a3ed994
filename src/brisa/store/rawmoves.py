"""A worker's start and finish on SQLite's own connection (ADR 0036, round 2).

On SQLite a worker's move is four statements (`guards.PreparedMove`: the guarded update,
its transition record, its change note; then the attempt row), each built once but each
still taking SQLAlchemy's per-statement path (its context, its cursor wrapper, its result):
about half of a call's CPU. Here the same statements are compiled once per dialect and run
on the DB-API cursor of the caller's transaction (`RawStatement`), with the values bound
by the columns' own bind processors and a start's answer read by their result processors:
the same rows, the same guard (id, try, token digest, the one source state), in the same
transaction, itself begun and ended on the DB-API connection (`RawTransaction`: BEGIN
IMMEDIATE, COMMIT; a busy lock raises as SQLAlchemy's BEGIN did, so the fallback of
`attempts.without_waiting` is unchanged). The engine's `before_cursor_execute`
listeners still hear every statement of the move (the SQLite statement timeout arms its
deadline there; tests count statements there), not the BEGIN and COMMIT. Not under a
fence: a scheduler's pass takes `PreparedMove`.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from brisa.store import actors, changes, fencing, guards, pools
from brisa.store.tables import changes as outbox

Processor = Callable[[Any], Any] | None


class RawStatement:
    """One statement compiled once for `dialect`: its SQL text, where each positional value
    comes from (a call's value by name, or the statement's own literal), and the processors
    of its bound values and of its answer's columns."""

    def __init__(self, statement: Any, dialect: sa.Dialect, keys: Sequence[str] = ()) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
        self.sql = str(compiled)
        self._binds: list[tuple[str, Processor, bool, Any]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            process = bind.type._cached_bind_processor(dialect)
            literal = not bind.required and name not in keys
            self._binds.append((name, process, literal, bind.effective_value))
        columns = list(getattr(statement, "exported_columns", ()) or ())
        self._answer: list[Processor] = [
            c.type._cached_result_processor(dialect, None) for c in columns
        ]
        self._row = namedtuple("Row", [c.key for c in columns]) if columns else None

    def params(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional values of one execution."""
        out = []
        for name, process, literal, fixed in self._binds:
            value = fixed if literal else values[name]
            out.append(process(value) if process is not None else value)
        return out

    def rows(self, raw: Sequence[Sequence[Any]]) -> list[Any]:
        """The answer's rows, each column through its result processor."""
        assert self._row is not None
        make, processors = self._row, self._answer
        return [
            make(*(v if p is None else p(v) for p, v in zip(processors, row, strict=True)))
            for row in raw
        ]


def execute(conn: sa.Connection, raw: RawStatement, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Run `raw` on `conn`'s DB-API cursor, once per element of `rows` (one: its answer)."""
    params = [raw.params(values) for values in rows]
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    many = len(params) > 1
    try:
        if conn._has_events or conn.engine._has_events:
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, raw.sql, params if many else params[0], None, many)
        if many:
            cursor.executemany(raw.sql, params)
            return []
        cursor.execute(raw.sql, params[0])
        return list(cursor.fetchall()) if cursor.description else []
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(raw.sql, params, exc, sqlite3.Error) from exc
    finally:
        cursor.close()


class RawMove:
    """`move` (a `PreparedMove`, matched by id, try number and token digest) and the
    attempt row's update `attempt` (bound by `w_ti_id`, `w_try_number` and its own values),
    run on the raw cursor; compiled at the first call on a dialect."""

    def __init__(self, move: guards.PreparedMove, attempt: sa.Update) -> None:
        self._move, self._attempt = move, attempt
        self._compiled: dict[str, tuple[RawStatement, ...]] = {}

    def _statements(self, dialect: sa.Dialect) -> tuple[RawStatement, ...]:
        statements = self._compiled.get(dialect.name)
        if statements is None:
            move = RawStatement(self._move.statement, dialect)
            recorded = RawStatement(
                guards.transition_insert(dialect.name),
                dialect,
                ("ti_id", "run_pk", "try_number", "from_state", "to_state", "actor", "epoch"),
            )
            noted = RawStatement(outbox.insert(), dialect, ("topic", "at"))
            attempted = RawStatement(self._attempt, dialect)
            released = RawStatement(pools.release_one(), dialect)
            statements = (move, recorded, noted, attempted, released)
            self._compiled[dialect.name] = statements
        return statements

    def run(
        self,
        conn: sa.Connection,
        where: Mapping[str, Any],
        values: Mapping[str, Any],
        attempt: Mapping[str, Any],
    ) -> Any:
        """The moved row (its answer's columns), or None when the guard refused: nothing
        was written. `attempt`: the attempt row's bound values by name."""
        move, recorded, noted, attempted, released = self._statements(conn.dialect)
        params = {f"w_{name}": value for name, value in where.items()}
        params.update((f"v_{name}", value) for name, value in values.items())
        answer = execute(conn, move, [params])
        if not answer:
            return None
        [row] = move.rows(answer)
        if self._move.releases:  # slots back (ADR 0020): its one id bound as a scalar
            freed = execute(conn, released, [{"r_ti_id": row.id}])
            pools.settle_released(conn, released.rows(freed) if freed else ())
        actor, epoch = actors.current()
        mark = {
            "ti_id": row.id,
            "run_pk": row.run_pk,
            "try_number": row.try_number,
            "from_state": str(self._move.expected),
            "to_state": str(self._move.to),
            "actor": actor,
            "epoch": epoch,
        }
        execute(conn, recorded, [mark])
        at = datetime.now(UTC)
        topics = sorted(guards.task_topics(row.id, row.run_pk, row.try_number))
        execute(conn, noted, [{"topic": topic, "at": at} for topic in topics])
        changes.noted(conn)
        ref = {"w_ti_id": row.id, "w_try_number": row.try_number}
        execute(conn, attempted, [{**ref, **attempt}])
        return row


class RawTransaction:
    """A worker's write transaction on SQLite, begun and ended on `conn`'s DB-API connection
    (`BEGIN IMMEDIATE`, `COMMIT`, `ROLLBACK`), without SQLAlchemy's transaction (its begin
    event, its statement path for BEGIN, its commit): half of an empty one's CPU. `conn`
    must not be in a transaction. A statement sent within through `conn.execute` (a rare
    path, such as the retired pool slots of `pools.settle_released`) makes SQLAlchemy begin
    its own transaction on top, which the engine's begin event leaves as it is
    (`store.engine`: no BEGIN on a connection already in one) and this commits or rolls back
    with the rest. The lock is taken as SQLAlchemy's BEGIN IMMEDIATE takes it: a busy lock
    waits for the connection's busy timeout, then raises `sa.exc.OperationalError`."""

    def __init__(self, conn: sa.Connection) -> None:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None and not conn.in_transaction()
        self._conn, self._dbapi = conn, dbapi
        _run(dbapi, "BEGIN IMMEDIATE")

    def __enter__(self) -> sa.Connection:
        return self._conn

    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> None:
        conn, dbapi = self._conn, self._dbapi
        if kind is None:
            if conn.in_transaction():
                conn.commit()
            else:
                _run(dbapi, "COMMIT")
            return
        if conn.in_transaction():
            conn.rollback()
        if dbapi.in_transaction:
            _run(dbapi, "ROLLBACK")


def _run(dbapi: Any, sql: str) -> None:
    """`sql` (no values) on the DB-API connection, a driver error raised as SQLAlchemy's."""
    try:
        dbapi.execute(sql)
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def raw_moves(conn: sa.Connection) -> bool:
    """Whether a worker's move runs on the raw cursor here: SQLite's `sqlite3`, no fence."""
    return conn.dialect.driver == "pysqlite" and fencing.current() is None
