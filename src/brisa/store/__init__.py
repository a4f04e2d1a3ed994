"""The metadata store port: domain verbs over SQLAlchemy Core, on SQLite or PostgreSQL.

Every state change is an UPDATE guarded by the expected current state (and try number), so
that a race loses cleanly instead of overwriting newer work; all of them go through
`guards.guarded_update`, which takes the allowed states from the transition tables. See
docs/adr/0002-store-guarded-updates.md.
"""

from __future__ import annotations

import sqlalchemy as sa

from brisa.store.attempts import AttemptStore
from brisa.store.catalog import CatalogStore, SpecCache
from brisa.store.changes import ChangeLog
from brisa.store.daglist import DagListStore
from brisa.store.engine import create_engine
from brisa.store.listing import ListingStore
from brisa.store.migrate import upgrade
from brisa.store.operations import OperationsStore
from brisa.store.repos import RepoStore
from brisa.store.runs import RunStore


class Store(
    CatalogStore,
    RunStore,
    OperationsStore,
    AttemptStore,
    RepoStore,
    ListingStore,
    DagListStore,
    ChangeLog,
):
    """All the store's verbs over one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.specs = SpecCache()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        """Raise unless the database answers (the health check)."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def open_store(
    url: str, *, migrate: bool = False, pool_size: int = 5, statement_timeout: float | None = None
) -> Store:
    """Connect to the database at `url`; with migrate=True bring its schema up to date first.
    `statement_timeout`: seconds after which a statement fails (the UI's reads)."""
    engine = create_engine(url, pool_size=pool_size, statement_timeout=statement_timeout)
    if migrate:
        upgrade(engine)
    return Store(engine)


__all__ = ["Store", "open_store"]
