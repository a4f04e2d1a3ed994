"""Pooled PostgreSQL connections are pinged on checkout only after sitting idle
(`engine.ping_when_idle`): a connection the server dropped while idle is replaced without
the caller noticing; one dropped a moment after its last use fails one statement, and the
pool connects afresh for the next."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from brisa.store import engine as engines


def _drop_pooled_connection(engine: sa.Engine, url: str) -> int:
    """End the server process behind the engine's (only) pooled connection; its pid."""
    with engine.connect() as conn:
        pid = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    return pid


def _pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_the_server_dropped_is_replaced_unnoticed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_IDLE", 0.0)  # every reuse counts as idle
    engine = engines.create_engine(postgres_url, pool_size=1)
    try:
        dropped = _drop_pooled_connection(engine, postgres_url)
        assert _pid(engine) != dropped, "a new connection answered"
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged_and_fails_once_if_dropped(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "PING_IDLE", 3600.0)  # never idle long enough
    engine = engines.create_engine(postgres_url, pool_size=1)
    pings: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: pings.append(a[2]))
    try:
        _pid(engine)
        _pid(engine)
        assert pings == ["SELECT pg_backend_pid()"] * 2, "no ping between uses"
        dropped = _drop_pooled_connection(engine, postgres_url)
        with pytest.raises(sa.exc.OperationalError):
            _pid(engine)
        assert _pid(engine) != dropped, "the pool connected afresh"
    finally:
        engine.dispose()


def test_the_store_s_reads_hold_no_transaction_and_its_writes_still_do(postgres_url: str) -> None:
    from brisa.store import open_store
    from brisa.store.tables import changes

    store = open_store(postgres_url, migrate=True, pool_size=1)
    try:
        with store.reader.connect() as conn:
            pid = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                state = admin.execute(
                    "SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
        assert state == ("idle",), "no transaction open between a read's statements"
        assert store.last_change_id() == 0
        with pytest.raises(RuntimeError), store.engine.begin() as conn:  # the same connection
            conn.execute(changes.insert().values(topic="x", at=sa.func.now()))
            raise RuntimeError("the writer fails half-way")
        assert store.last_change_id() == 0, "the write was rolled back as a whole"
    finally:
        store.close()


def test_the_health_ping_answers_for_the_database_not_for_a_connection_cut_a_moment_ago(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A readiness check right after the server cut the pooled connection says what the
    database says now (here: it answers), not "terminating connection"."""
    from brisa.store import open_store

    monkeypatch.setattr(engines, "PING_IDLE", 3600.0)  # never idle long enough
    store = open_store(postgres_url, migrate=True)
    try:
        store.ping()
        dropped = _drop_pooled_connection(store.engine, postgres_url)
        store.ping()  # the dead connection is dropped and a fresh one asked
        assert _pid(store.engine) != dropped
    finally:
        store.close()
