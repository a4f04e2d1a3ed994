"""The small reads of a scheduling pass in one round trip (ADR 0038).

Each pass reads the change outbox after its cursor, the catalog's stamp and the pool book:
three small, independent answers. On PostgreSQL each statement is a round trip, which under
load costs more than the reading (W6: a quarter of a pass), so they are one statement of three
sub-selects, the outbox and the pool book aggregated to JSON by the server (their values are
ids, names, counts and flags: nothing JSON would change). The three are read in one snapshot
of the database, as one statement. SQLite reads them one after the other (a statement there
is not a round trip), but in one read transaction on one connection: each read of its own
costs a pool checkout, a BEGIN and the ROLLBACK of the connection's return, three times
the reading of these few rows (the chain gap on SQLite, docs/benchmarks.md "(13)"), and one
transaction gives the three one snapshot, as on PostgreSQL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from brisa.core.pools import PoolBook
from brisa.store import rawpass, reading
from brisa.store.catalog import CatalogStore, stamp_columns
from brisa.store.changes import ChangeLog
from brisa.store.pools import PoolStore, held_slots, pool_from
from brisa.store.tables import changes, dags, pools


@dataclass(frozen=True)
class PassReads:
    changes: list[tuple[int, str]] | None  # None: not asked for (a full read is due)
    stamp: list[tuple[object, ...]]  # the catalog's (`CatalogStore.catalog_stamp`)
    pools: PoolBook


_IDS = postgresql.ARRAY(sa.Integer)
_NOTHING = 2**31 - 1  # an id after the last one an INTEGER column holds: no change read


def _json_list(*values: Any) -> Any:
    return sa.func.json_build_array(*values)


def _aggregated(select: sa.Select[Any], order: Any = None) -> Any:
    """`select`'s rows as one JSON array of arrays (an empty array when there are none)."""
    rows = select.subquery()
    element = _json_list(*rows.c)
    agg = sa.func.json_agg(
        postgresql.aggregate_order_by(element, order(rows)) if order else element
    )
    return sa.select(sa.func.coalesce(agg, sa.text("'[]'::json"))).scalar_subquery()


def _outbox(also: bool) -> sa.Select[Any]:
    """SQLite's read of the outbox (`changes.read_after`'s): after `r_last`, and of the ids
    `r_also` when `also`; at most `r_limit` rows."""
    after = changes.c.id > sa.bindparam("r_last")
    named = changes.c.id.in_(sa.bindparam("r_also", expanding=True))
    where = sa.or_(after, named) if also else after
    return (
        sa.select(changes.c.id, changes.c.topic)
        .where(where)
        .order_by(changes.c.id)
        .limit(sa.bindparam("r_limit"))
    )


def _book() -> sa.Select[Any]:
    held = held_slots()
    p = pools.c
    return sa.select(
        p.team, p.name, p.slots, p.description, p.configured, held.c.used, held.c.retired
    ).outerjoin(held, sa.and_(held.c.team == p.team, held.c.pool == p.name))


def _build() -> sa.Select[Any]:
    outbox = (
        sa.select(changes.c.id, changes.c.topic)
        .where(
            sa.or_(
                changes.c.id > sa.bindparam("r_last"),
                changes.c.id == sa.func.any(sa.bindparam("r_also", type_=_IDS)),
            )
        )
        .order_by(changes.c.id)
        .limit(sa.bindparam("r_limit"))
    )
    d = dags.c
    row = sa.cast(sa.func.row(*stamp_columns()), sa.Text)  # a NULL differs from ''
    order: Any = postgresql.aggregate_order_by(sa.literal_column("E'\\n'"), d.team, d.dag_id)
    count = sa.select(sa.func.count()).select_from(dags).scalar_subquery()
    digest = sa.select(sa.func.md5(sa.func.string_agg(row, order))).scalar_subquery()
    return sa.select(_aggregated(outbox, lambda r: r.c.id), count, digest, _aggregated(_book()))


_QUERY: sa.Select[Any] | None = None


@functools.cache
def _sqlite_reads() -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """SQLite's statements, built once (a statement built at every pass is also keyed again
    by SQLAlchemy at every pass): the outbox without and with ids, the stamp, the book."""
    stamp = sa.select(*stamp_columns()).order_by(dags.c.team, dags.c.dag_id)
    return _outbox(False), _outbox(True), stamp, _book()


class PassReadStore(CatalogStore, ChangeLog, PoolStore):
    def pass_reads(self, after: tuple[int, list[int]] | None, *, limit: int) -> PassReads:
        """The changes after id `after[0]` and of ids `after[1]` (oldest first, at most
        `limit`; None: not read), the catalog stamp and the pool book."""
        if self.engine.dialect.name != "postgresql":
            return self._one_after_another(after, limit)
        global _QUERY
        if _QUERY is None:
            _QUERY = _build()
        last, also = after if after is not None else (_NOTHING, [])
        params = {"r_last": last, "r_also": also, "r_limit": limit}
        with self.reader.connect() as conn:
            outbox, count, digest, book = conn.execute(_QUERY, params).one()
        found = None if after is None else [(int(i), str(t)) for i, t in outbox]
        return self._reads(found, [(count, digest)], book)

    def _one_after_another(self, after: tuple[int, list[int]] | None, limit: int) -> PassReads:
        """SQLite: the three reads in one read transaction of one connection."""
        outbox, outbox_also, stamp_query, book_query = _sqlite_reads()
        with reading.connection(self.reader) as conn:
            found = None
            if after is not None:
                last, also = after
                params: dict[str, Any] = {"r_last": last, "r_limit": limit}
                if also:
                    params["r_also"] = also
                rows = rawpass.run(conn, outbox_also if also else outbox, params)
                found = [(int(i), str(t)) for i, t in rows]
            stamp_rows = [tuple(row) for row in rawpass.run(conn, stamp_query)]
            book = rawpass.run(conn, book_query).all()
        return self._reads(found, stamp_rows, book)

    def _reads(
        self, found: list[tuple[int, str]] | None, stamp: list[tuple[object, ...]], book: Any
    ) -> PassReads:
        book_rows = {
            (team, name): pool_from(team, name, slots, description, configured, used, retired)
            for team, name, slots, description, configured, used, retired in book
        }
        return PassReads(found, stamp, PoolBook(book_rows, self.default_pool_slots))
