"""Database engines: SQLite (WAL, one writer at a time) and PostgreSQL."""

from __future__ import annotations

import math
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from brisa.store import changes

WRITE = {"brisa_write": True}


def _sqlite_events(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN, so writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred transaction that later writes can fail with SQLITE_BUSY without
        # waiting; BEGIN IMMEDIATE queues behind the current writer instead.
        immediate = connection.get_execution_options().get("brisa_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    changes.install(engine)
    return engine
