"""Schema migrations: `brisa db migrate` and the standalone start-up call `upgrade()`."""

from __future__ import annotations

import functools
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


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")


def revision(engine: sa.Engine, message: str) -> None:
    """Developer helper: autogenerate a new revision from tables.py."""
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@functools.cache
def head_revision() -> str:
    """The newest revision among the migrations this code carries."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head
