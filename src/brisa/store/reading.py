"""A scheduling pass's reads on one connection, in one read transaction (SQLite).

A pass reads the outbox, the catalog's stamp and the pool book (`passreads`), then the runs
and task rows the outbox named (`RunStore.runs_and_tasks`), and now and then the specs, the
schedule state and stray tasks: each read took its own connection from the pool, its own
BEGIN and the ROLLBACK of the connection's return, and its own snapshot. Inside `reading`,
the reads that ask for `connection(reader)` share one connection and one read transaction
(ADR 0027, s22 amendment): one checkout and one BEGIN a pass, and every read of the pass
sees the same snapshot of the database (the runs re-read are as of the outbox read that
named them, not of a later moment). Writes never take this connection: a pass's writes are
their own transactions, after its reads.

PostgreSQL is unchanged: its reads are in autocommit (`engine.reader`: one round trip each)
and hold no transaction; `reading` holds nothing there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import sqlalchemy as sa

# The reader engine and its connection held by this thread's `reading` (a thread starts
# with an empty context: never shared between threads).
_HELD: ContextVar[tuple[sa.Engine, sa.Connection] | None] = ContextVar(
    "brisa_reading", default=None
)


@contextlib.contextmanager
def reading(reader: sa.Engine) -> Iterator[None]:
    """Inside: `connection(reader)` is one connection in one read transaction (SQLite)."""
    if reader.dialect.name == "postgresql" or _HELD.get() is not None:
        yield
        return
    with reader.connect() as conn:
        token = _HELD.set((reader, conn))
        try:
            yield
        finally:
            _HELD.reset(token)


@contextlib.contextmanager
def connection(reader: sa.Engine) -> Iterator[sa.Connection]:
    """The connection `reading` holds for `reader`, or one of its own."""
    held = _HELD.get()
    if held is not None and held[0] is reader:
        yield held[1]
        return
    with reader.connect() as conn:
        yield conn
