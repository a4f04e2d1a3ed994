"""Fixtures shared by every test layer. Keep each group in its own clearly titled section."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import psycopg

    from brisa.store import Store

# Database drivers, SQLAlchemy and Alembic are imported inside the fixtures below, so that
# pure unit tests do not pay for them.

# ---------------------------------------------------------------------------------------------
# Metadata databases: the same test runs against SQLite and PostgreSQL
#
#   store         parametrized [sqlite, postgresql]: a Store on a migrated, empty database
#   store_url     the URL of that same database (e.g. to open more stores from threads)
#   database_url  parametrized the same way: a brand-new database of its own, no schema yet
#   postgres_url  PostgreSQL only, brand-new (e.g. several schedulers racing on row locks)
#
# `store`/`store_url` share one migrated database per test module and backend, emptied before
# each test: creating a PostgreSQL database costs 0.3-0.6 s here, which per test would make the
# contract suite several times slower. `database_url` and `postgres_url` always create one.
# Do not request `database_url` together with `store` (they would be two unrelated databases,
# and the two parametrizations would multiply).
#
# Outside CI an unreachable PostgreSQL skips its tests; with CI=true it fails them, so CI cannot
# go green without having run them. Deselect them locally with `-m "not postgres"`.
# ---------------------------------------------------------------------------------------------

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
# Test databases run in a non-UTC session time zone on purpose: the store must store and return
# the same instants whatever the server's time zone is (many production servers are not UTC).
POSTGRES_TEST_TIMEZONE = "America/Sao_Paulo"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@cache
def _postgres_unreachable() -> str | None:
    """Why the test server cannot be used, or None when it answers (checked once per session)."""
    import psycopg

    try:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _require_postgres() -> None:
    reason = _postgres_unreachable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"CI=true but PostgreSQL is not reachable at {POSTGRES_SERVER} ({reason}); "
            "the CI job must start PostgreSQL on 127.0.0.1:5432 with user postgres and trust auth",
            pytrace=False,
        )
    pytest.skip(
        f"PostgreSQL is not reachable at {POSTGRES_SERVER} ({reason}); to run these tests start "
        "PostgreSQL on 127.0.0.1:5432 with user postgres and trust auth (no password)"
    )


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    import psycopg

    return psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=3)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database with a random name; yield its URL; drop it after."""
    _require_postgres()
    name = f"brisa_test_{uuid.uuid4().hex[:16]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f"ALTER DATABASE \"{name}\" SET timezone TO '{POSTGRES_TEST_TIMEZONE}'")
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def new_database(backend: str, directory: Path) -> Iterator[str]:
    """A new, empty database of `backend` ("sqlite" files go in `directory`); yields its URL."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'brisa.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a new, empty metadata database on each backend (SQLite file or PostgreSQL)."""
    with new_database(request.param, tmp_path) as url:
        yield url


# A one-value parametrization, so that the tests using it carry the `postgres` marker.
@pytest.fixture(params=BACKENDS[1:])
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, for tests that only make sense there."""
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def _module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    from brisa.store import open_store

    with new_database(request.param, tmp_path_factory.mktemp("db")) as url:
        open_store(url, migrate=True).close()
        yield url


@pytest.fixture
def store_url(_module_database_url: str) -> str:
    """URL of a migrated metadata database on each backend, emptied for this test."""
    from brisa.store import open_store
    from brisa.store.tables import metadata

    cleaner = open_store(_module_database_url)
    try:
        with cleaner.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
    finally:
        cleaner.close()
    return _module_database_url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A Store on a migrated, empty metadata database of each backend."""
    from brisa.store import open_store

    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
