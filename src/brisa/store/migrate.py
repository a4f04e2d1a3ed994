"""Schema migrations: `brisa db migrate` and the standalone start-up call `upgrade()`."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# Alembic keeps its `context` and `op` proxies in module globals: two threads of one process
# running it at once (a migration and a readiness probe's head lookup) break each other.
_ALEMBIC = threading.RLock()
# Processes that start together on a new database (a scheduler, an API, a DAG processor)
# migrate one after the other: the others find the schema there.
_MIGRATION_LOCK_KEY = 0x62726973  # "bris"


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    # SQLite: BEGIN IMMEDIATE takes the write lock first, so a second migrator waits for it.
    with _ALEMBIC, engine.execution_options(brisa_write=True).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
        command.upgrade(_config(connection), "head")


def revision(engine: sa.Engine, message: str) -> None:
    """Developer helper: autogenerate a new revision from tables.py."""
    with _ALEMBIC, engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with _ALEMBIC, engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str:
    """The newest revision among the migrations this code carries."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _ALEMBIC:
        head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
