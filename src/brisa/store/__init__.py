"""The metadata store port: domain verbs over SQLAlchemy Core, on SQLite or PostgreSQL.

Every state change is an UPDATE guarded by the expected current state (and try number), so
that a race loses cleanly instead of overwriting newer work; all of them go through
`guards.guarded_update`, which takes the allowed states from the transition tables. See
docs/adr/0002-store-guarded-updates.md.
"""

from __future__ import annotations

import sqlalchemy as sa

from brisa.core.pools import DEFAULT_SLOTS
from brisa.store.attempts import AttemptStore
from brisa.store.audit import AuditStore
from brisa.store.catalog import CatalogStore, SpecCache
from brisa.store.changes import ChangeLog
from brisa.store.claims import ClaimStore
from brisa.store.commitparses import CommitParseStore
from brisa.store.daglist import DagListStore
from brisa.store.engine import create_engine, reader
from brisa.store.gauges import GaugeStore
from brisa.store.listing import ListingStore
from brisa.store.migrate import upgrade
from brisa.store.notes import NoteStore
from brisa.store.operations import OperationsStore
from brisa.store.passreads import PassReadStore
from brisa.store.pools import PoolStore
from brisa.store.pruning import PruningStore
from brisa.store.queueing import QueueStore
from brisa.store.repos import RepoStore
from brisa.store.runs import RunStore
from brisa.store.transitions import TransitionStore


class Store(
    PassReadStore,
    CatalogStore,
    RunStore,
    QueueStore,
    OperationsStore,
    AttemptStore,
    RepoStore,
    ListingStore,
    ChangeLog,
    ClaimStore,
    GaugeStore,
    PoolStore,
    TransitionStore,
    DagListStore,
    NoteStore,
    AuditStore,
    CommitParseStore,
    PruningStore,
):
    """All the store's verbs over one engine. `default_pool_slots`: the size of each team's
    default pool while it is not set by hand (`[pools] default_slots`)."""

    def __init__(self, engine: sa.Engine, *, default_pool_slots: int = DEFAULT_SLOTS) -> None:
        self.engine = engine
        self.reader = reader(engine)  # for the scheduler's reads on every pass
        self.specs = SpecCache()
        self.default_pool_slots = default_pool_slots

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> None:
        """Raise unless the database answers now (the health check). A pooled connection
        that died a moment ago (not pinged on checkout: `engine.ping_when_idle`) says only
        that it was cut; the pool has dropped it, so a fresh connection is tried once and
        its answer is the one given (e.g. "database ... does not exist")."""
        try:
            self._select_one()
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            self._select_one()

    def _select_one(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def open_store(
    url: str,
    *,
    migrate: bool = False,
    pool_size: int = 5,
    statement_timeout: float | None = None,
    default_pool_slots: int = DEFAULT_SLOTS,
) -> Store:
    """Connect to the database at `url`; with migrate=True bring its schema up to date first.
    `statement_timeout`: seconds after which a statement fails (the UI's reads)."""
    engine = create_engine(url, pool_size=pool_size, statement_timeout=statement_timeout)
    if migrate:
        upgrade(engine)
    return Store(engine, default_pool_slots=default_pool_slots)


__all__ = ["Store", "open_store"]
