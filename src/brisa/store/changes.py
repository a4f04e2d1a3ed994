"""The change outbox (ADR 0017): which objects a transaction changed, for live updates.

A state change calls `record(conn, topics)` inside its own transaction, so a change is
visible in `changes` exactly when the change itself is, and a reader that follows `id`
(`read_after`) sees every change once, in commit order. On PostgreSQL `record` also sends
`NOTIFY brisa_changes` (delivered at commit), which wakes a listening reader at once
(`Listener`); SQLite readers poll, and a process that writes wakes its own reader through
`on_record` hooks.

Topics are the UI's names (web/ui/live.py): `run:<pk>`, `dag:<team>/<id>`,
`attempt:<ti>/<try>`, `repo:<name>`, `import-errors`, `health`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from brisa.store.tables import changes

CHANNEL = "brisa_changes"
_hooks: list[Callable[[], None]] = []
_hooks_lock = threading.Lock()


def on_record(hook: Callable[[], None]) -> Callable[[], None]:
    """Call `hook` (cheap, non-blocking) after each `record` in this process; returns a
    function that removes it."""
    with _hooks_lock:
        _hooks.append(hook)

    def remove() -> None:
        with _hooks_lock, contextlib.suppress(ValueError):
            _hooks.remove(hook)

    return remove


def record(conn: sa.Connection, topics: Iterable[str]) -> None:
    """Note, in the caller's transaction, that the objects named by `topics` changed."""
    unique = sorted(set(topics))
    if not unique:
        return
    now = datetime.now(UTC)
    conn.execute(changes.insert(), [{"topic": topic, "at": now} for topic in unique])
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_notify(CHANNEL, "")))
    with _hooks_lock:
        hooks = list(_hooks)
    for hook in hooks:
        hook()


def run_topics(team: str, dag_id: str, run_pk: int) -> list[str]:
    return [f"run:{run_pk}", f"dag:{team}/{dag_id}", "health"]


def read_after(
    engine: sa.Engine, last_id: int, also: list[int], limit: int = 1000
) -> list[tuple[int, str]]:
    """The changes after `last_id` (and those of ids `also`), oldest first, at most `limit`."""
    after = changes.c.id > last_id
    query = (
        sa.select(changes.c.id, changes.c.topic)
        .where(sa.or_(after, changes.c.id.in_(also)) if also else after)
        .order_by(changes.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [(int(row.id), str(row.topic)) for row in conn.execute(query)]


def last_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(changes.c.id))).scalar() or 0)


def prune(engine: sa.Engine, before: datetime) -> int:
    """Forget changes older than `before`, always keeping the newest (its id is the
    position readers resume from)."""
    newest = last_id(engine)
    with engine.execution_options(brisa_write=True).begin() as conn:
        result = conn.execute(changes.delete().where(changes.c.at < before, changes.c.id < newest))
        return int(result.rowcount)


class Listener:
    """A PostgreSQL connection that LISTENs on the change channel: `wait(timeout)` returns
    once a change was committed (or the timeout passed). Only for PostgreSQL engines."""

    def __init__(self, engine: sa.Engine) -> None:
        import psycopg

        url = engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        self._conn: Any = psycopg.connect(dsn, autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        notified: Iterator[Any] = self._conn.notifies(timeout=timeout, stop_after=1)
        return any(True for _ in notified)

    def close(self) -> None:
        self._conn.close()


class LocalWaiter:
    """Wakes when this process records a change (SQLite: all writers of a standalone live in
    one process; other processes' changes are found by polling)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._remove = on_record(self._event.set)

    def wait(self, timeout: float) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def close(self) -> None:
        self._remove()
        self._event.set()


class ChangeLog:
    """The store's verbs over the outbox (mixed into `Store`)."""

    engine: sa.Engine

    def changes_after(
        self, last: int, also: Iterable[int] = (), limit: int = 1000
    ) -> list[tuple[int, str]]:
        """Changes after id `last`, plus those of ids `also` (ids a reader saw skipped, which
        a slower PostgreSQL transaction may still commit), oldest first."""
        return read_after(self.engine, last, list(also), limit)

    def last_change_id(self) -> int:
        return last_id(self.engine)

    def prune_changes(self, before: datetime) -> int:
        return prune(self.engine, before)

    def change_waiter(self) -> LocalWaiter | Listener:
        """Something whose `wait(timeout)` returns early when a change may have been made."""
        if self.engine.dialect.name == "postgresql":
            return Listener(self.engine)
        return LocalWaiter()
