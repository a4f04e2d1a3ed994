"""A worker's start and finish on SQLite's own connection (ADR 0036, round 2).

On SQLite a worker's move is four statements (`guards.PreparedMove`: the guarded update, its
transition record, its change note; then the attempt row), each built once but each still
taking SQLAlchemy's per-statement path (its context, its cursor wrapper, its result): about
half of a call's CPU. Here the same statements are compiled once per dialect and run on the
DB-API cursor of the caller's transaction (`rawpass.Compiled` and `rawpass.cursor_execute`,
which a pass uses too), with the values bound by the columns' own bind processors and a
start's answer read by their result processors: the same rows, the same guard (id, try,
token digest, the one source state), in the same transaction, itself begun and ended on the
DB-API connection (`RawTransaction`: BEGIN IMMEDIATE, COMMIT; a busy lock raises as
SQLAlchemy's BEGIN did, so the fallback of `attempts.without_waiting` is unchanged). The
engine's `before_cursor_execute` listeners still hear every statement of the move (the
SQLite statement timeout arms its deadline there; tests count statements there), not the
BEGIN and COMMIT. Not under a fence: a scheduler's pass takes `PreparedMove`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from brisa.store import actors, changes, fencing, guards, pools, rawpass
from brisa.store.rawpass import Compiled
from brisa.store.tables import changes as outbox


def execute(conn: sa.Connection, raw: Compiled, rows: Sequence[Mapping[str, Any]]) -> Sequence[Any]:
    """Run `raw` on `conn`'s DB-API cursor, once per element of `rows` (one: its answer)."""
    bound = [raw.bound(values) for values in rows]
    answer, _ = rawpass.cursor_execute(conn, bound[0][0], [v for _, v in bound], len(bound) > 1)
    return answer


class RawMove:
    """`move` (a `PreparedMove`, matched by id, try number and token digest) and the
    attempt row's update `attempt` (bound by `w_ti_id`, `w_try_number` and its own values),
    run on the raw cursor; compiled at the first call on a dialect."""

    def __init__(self, move: guards.PreparedMove, attempt: sa.Update) -> None:
        self._move, self._attempt = move, attempt
        self._compiled: dict[str, tuple[Compiled, ...]] = {}

    def _statements(self, dialect: sa.Dialect) -> tuple[Compiled, ...]:
        statements = self._compiled.get(dialect.name)
        if statements is None:
            move = Compiled(self._move.statement, dialect, [])
            recorded = Compiled(
                guards.transition_insert(dialect.name),
                dialect,
                ["ti_id", "run_pk", "try_number", "from_state", "to_state", "actor", "epoch"],
            )
            noted = Compiled(outbox.insert(), dialect, ["topic", "at"])
            attempted = Compiled(self._attempt, dialect, [])
            released = Compiled(pools.release_one(), dialect, [])
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
        rawpass.driver_sql(dbapi, "BEGIN IMMEDIATE")

    def __enter__(self) -> sa.Connection:
        return self._conn

    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> None:
        conn, dbapi = self._conn, self._dbapi
        if kind is None:
            if conn.in_transaction():
                conn.commit()
            else:
                rawpass.driver_sql(dbapi, "COMMIT")
            return
        if conn.in_transaction():
            conn.rollback()
        if dbapi.in_transaction:
            rawpass.driver_sql(dbapi, "ROLLBACK")


def raw_moves(conn: sa.Connection) -> bool:
    """Whether a worker's move runs on the raw cursor here: SQLite's `sqlite3`, no fence."""
    return conn.dialect.driver == "pysqlite" and fencing.current() is None
