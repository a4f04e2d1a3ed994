"""Database engines: SQLite (WAL, one writer at a time) and PostgreSQL."""

from __future__ import annotations

import math
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from brisa.store import changes, rawpass

WRITE = {"brisa_write": True}
BUSY_TIMEOUT_MS = 30000  # SQLite: how long a writer waits for the write lock
# A pooled PostgreSQL connection unused for longer than this is pinged before it is handed
# out; one used more recently is handed out as it is (a scheduler pass checks connections
# out a dozen times within milliseconds: a ping each was a quarter of its round trips).
PING_IDLE = 1.0


def _sqlite_events(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN, so writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred transaction that later writes can fail with SQLITE_BUSY without
        # waiting; BEGIN IMMEDIATE queues behind the current writer instead. Sent on the
        # DB-API connection (SQLAlchemy's statement path was half of an empty transaction's
        # CPU; no statement listener ever needed a BEGIN), an error raised as SQLAlchemy's.
        # One begun there already (`rawmoves.RawTransaction`) is kept.
        dbapi = connection.connection.dbapi_connection
        if dbapi is None or dbapi.in_transaction:
            return
        sql = (
            "BEGIN IMMEDIATE" if connection.get_execution_options().get("brisa_write") else "BEGIN"
        )
        rawpass.driver_sql(dbapi, sql)


def _sqlite_timeout(engine: sa.Engine, seconds: float) -> None:
    """Interrupt a statement running longer than `seconds` (SQLite has no statement timeout:
    a progress handler checks the statement's deadline every few thousand VM steps)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        deadline = record.info["brisa_deadline"] = [math.inf]
        dbapi_connection.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 10_000)

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(conn: sa.Connection, *_args: Any) -> None:
        deadline = conn.connection.info.get("brisa_deadline")
        if deadline is not None:
            deadline[0] = time.monotonic() + seconds


def create_engine(
    url: str, pool_size: int = 5, statement_timeout: float | None = None
) -> sa.Engine:
    """An engine for `url`, tuned for the backend; with `statement_timeout` (seconds) a
    statement that runs longer fails (OperationalError) instead of holding a connection."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_events(engine)
        if statement_timeout:
            _sqlite_timeout(engine, statement_timeout)
        changes.install(engine)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    connect_args = {}
    if statement_timeout:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args=connect_args,
    )
    ping_when_idle(engine, PING_IDLE)
    changes.install(engine)
    return engine


def reader(engine: sa.Engine) -> sa.Engine:
    """`engine` for reads that need no transaction of their own (one statement, or several
    that need not see one snapshot): on PostgreSQL in autocommit, so a read is one round
    trip instead of three (BEGIN, the statement, the ROLLBACK when the connection goes back
    to the pool). Under READ COMMITTED, PostgreSQL's default and Brisa's, each statement of a
    transaction sees its own snapshot anyway. SQLite keeps its transactions (a WAL read
    transaction is what gives its several statements one snapshot)."""
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def ping_when_idle(engine: sa.Engine, idle: float) -> None:
    """Ping a pooled connection on checkout when it has not been used for `idle` seconds
    (SQLAlchemy's `pool_pre_ping` pings on every checkout). A dead one is replaced: the pool
    is told by `DisconnectionError` and checks out a fresh connection. A connection that
    died within the last `idle` seconds fails its first statement instead, which makes the
    pool drop all its connections: the caller's transaction fails as a whole (a scheduler
    pass is retried; nothing half-applied), and the next checkout connects afresh."""
    dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["brisa_used"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        used = record.info.get("brisa_used")
        if used is None or time.monotonic() - used < idle:
            return  # new (info is cleared on invalidation), or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except dbapi_error as exc:
            raise sa.exc.DisconnectionError(f"pooled connection is gone: {exc}") from exc
