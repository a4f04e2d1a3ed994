"""`rawpass.run`: a pass's statement run on SQLite's own cursor answers what
`conn.execute` answers (rows, their columns' types, changed row counts), in the caller's
transaction; on PostgreSQL it is `conn.execute`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from brisa.store import Store, rawpass, reading
from brisa.store.tables import changes

AT = datetime(2026, 12, 8, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5)))
BY_IDS = (
    sa.select(changes.c.id, changes.c.topic, changes.c.at)
    .where(changes.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(changes.c.id)
)


def test_rows_written_and_read_raw_are_those_sqlalchemy_writes_and_reads(store: Store) -> None:
    notes = [{"topic": f"raw:{k}", "at": AT} for k in range(3)]
    with store.engine.begin() as conn:
        rawpass.run(conn, changes.insert(), notes)
        ids = [i for (i,) in conn.execute(sa.select(changes.c.id).order_by(changes.c.id))]
    with store.engine.connect() as conn:
        raw = rawpass.run(conn, BY_IDS, {"ids": ids[1:]}).all()
        plain = conn.execute(BY_IDS, {"ids": ids[1:]}).all()
    assert [tuple(r) for r in raw] == [tuple(r) for r in plain]
    assert [r.topic for r in raw] == ["raw:1", "raw:2"]
    assert all(r.at == AT and r.at.utcoffset() == timedelta(0) for r in raw)  # UTC, same instant
    with store.engine.begin() as conn:
        moved = rawpass.run(
            conn, changes.update().where(changes.c.id.in_(ids[:2])).values(topic="moved")
        )
        assert moved.rowcount == 2


def test_raw_writes_are_in_the_callers_transaction(store: Store) -> None:
    with store.engine.connect() as conn:
        rawpass.run(conn, changes.insert(), [{"topic": "undone", "at": datetime.now(UTC)}])
        conn.rollback()
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(changes.c.id).where(changes.c.topic == "undone")).all() == []


def test_a_pass_reads_in_one_snapshot(store: Store) -> None:
    # Inside `reading`, a write committed after the first read is not seen by the next
    # (SQLite: one read transaction); PostgreSQL reads each statement's own snapshot.
    query = sa.select(sa.func.count()).select_from(changes)
    with reading.reading(store.reader):
        with reading.connection(store.reader) as conn:
            before = conn.execute(query).scalar()
        with store.engine.begin() as writer:
            writer.execute(changes.insert(), [{"topic": "later", "at": datetime.now(UTC)}])
        with reading.connection(store.reader) as conn:
            after = conn.execute(query).scalar()
    assert after == (before if store.backend == "sqlite" else before + 1)
