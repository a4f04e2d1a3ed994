"""Fixtures shared by every test layer. Keep each group in its own clearly titled section."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import psycopg

    from brisa.objectstore import ObjectStore
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


# ---------------------------------------------------------------------------------------------
# Object stores: the same test runs against a local folder and a real S3-compatible server
#
#   s3_server     session-wide moto server (real HTTP on 127.0.0.1, no client mocks) in a child
#                 process; `.endpoint` is its URL, `.stop()` kills it (an outage) and `.start()`
#                 brings it back on the same port. moto keeps no data across a restart.
#   s3_location   a fresh bucket for this test: ("s3://<bucket>/<prefix>", options) where
#                 options are the store settings (endpoint_url, region, keys, allow_http)
#   object_store  parametrized [local, s3]: an ObjectStore from brisa.objectstore
#
# A test that stops `s3_server` must start it again (use try/finally); the fixture also
# restarts it before the next test that needs it, in case a test failed half way.
# ---------------------------------------------------------------------------------------------


class S3Server:
    """moto's S3 server in a child process, so that a test can kill it and start it again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto server did not start on {self.endpoint}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._proc = None

    def _answers(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                return True
        except (OSError, urllib.error.URLError):
            return False

    def create_bucket(self, name: str) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200, response.status


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 in a child process (see the section comment)."""
    from brisa.testing.server import free_port

    server = S3Server(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_location(s3_server: S3Server) -> tuple[str, dict[str, str]]:
    """A fresh bucket: ("s3://<bucket>/<prefix>", store options for the moto server)."""
    s3_server.start()  # a no-op unless an earlier test left it stopped
    bucket = f"brisa-test-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    options = {
        "endpoint_url": s3_server.endpoint,
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "allow_http": "true",
    }
    return f"s3://{bucket}/logs", options


OBJECT_STORES = [pytest.param("local", id="local"), pytest.param("s3", id="s3")]


@pytest.fixture(params=OBJECT_STORES)
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """An empty ObjectStore on a local folder and on the moto S3 server."""
    from brisa.objectstore import open_object_store

    if request.param == "local":
        return open_object_store(f"file://{tmp_path / 'objects'}")
    location, options = request.getfixturevalue("s3_location")
    return open_object_store(location, options)
