"""The change outbox (ADR 0017): which objects a transaction changed, for live updates.

A state change calls `record(conn, topics)` inside its own transaction, so a change is
visible in `changes` exactly when the change itself is, and a reader that follows `id`
(`read_after`) sees every change once, in commit order. `record` only marks the connection;
when a marked connection goes back to the pool (after its commit), the process's `on_record`
hooks run, and on PostgreSQL a `NOTIFY brisa_changes` is sent by a thread of its own, at most
one every `NOTIFY_EVERY` seconds per process, never inside the changing transaction: NOTIFY
takes a lock held until commit that every notifying transaction of the database queues on
(PLATFORM.md H8). It wakes listening readers (`Listener`); a notification is a hint only, and
readers poll as well. SQLite readers poll, and a process that writes wakes its own readers
through the hooks.

Topics are the UI's names (web/ui/live.py): `run:<pk>`, `dag:<team>/<id>`,
`attempt:<ti>/<try>`, `repo:<name>`, `import-errors`, `health`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql

from brisa.store import rawpass
from brisa.store.tables import UtcDateTime, changes

log = logging.getLogger("brisa.store")

CHANNEL = "brisa_changes"
NOTIFY_EVERY = 0.1  # seconds: at most ten notifications a second per process
_CHANGED = "brisa_changed"  # the mark `record` leaves on its connection
_GATHERED = "brisa_gathered"  # topics `record` collects instead of inserting (`gathered`)
_hooks: list[Callable[[], None]] = []
_hooks_lock = threading.Lock()
SKIPPED_WAIT = 10.0  # seconds an id skipped by a commit race is looked for again
_INSERT = changes.insert()  # built once: `record` is on every state change's path


@dataclass
class Cursor:
    """Where a reader of the outbox is: the last id read, and ids it saw skipped (a
    PostgreSQL transaction that took an id earlier may commit later) with when they were
    first missed; a skipped id is looked for again for `SKIPPED_WAIT` seconds."""

    last: int = 0
    skipped: dict[int, float] = field(default_factory=dict)

    def advance(self, ids: list[int], now: float) -> None:
        for found in ids:
            self.skipped.pop(found, None)
            if found > self.last:
                self.skipped.update((gap, now) for gap in range(self.last + 1, found))
                self.last = found
        self.skipped = {i: t for i, t in self.skipped.items() if now - t < SKIPPED_WAIT}


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
    gathering: set[str] | None = conn.info.get(_GATHERED)
    if gathering is not None:
        gathering.update(topics)
        return
    unique = sorted(set(topics))
    if not unique:
        return
    now = datetime.now(UTC)
    if conn.dialect.name == "postgresql":
        # One statement from an array: a batch's notes (a pass notes dozens) are one
        # round trip, with none of a many-row insert's per-row work in the driver.
        conn.execute(_FROM_ARRAY, {"c_topics": unique, "c_at": now})
    else:
        rawpass.run(conn, _INSERT, [{"topic": topic, "at": now} for topic in unique])
    noted(conn)


def noted(conn: sa.Connection) -> None:
    """Mark `conn` as having written to the outbox in its transaction (a statement of the
    caller's own did, as `attemptfold`'s): the hooks run once it is back in the pool."""
    conn.info[_CHANGED] = True


_FROM_ARRAY = changes.insert().from_select(
    ["topic", "at"],
    sa.select(
        sa.func.unnest(sa.bindparam("c_topics", type_=postgresql.ARRAY(sa.String()))),
        sa.cast(sa.bindparam("c_at", type_=UtcDateTime()), UtcDateTime),
    ),
)


@contextlib.contextmanager
def gathered(conn: sa.Connection) -> Iterator[None]:
    """Within, `record` on `conn` collects its topics; they are noted in one insert when the
    block ends without an error, still in the caller's transaction (a transaction that
    moves several kinds of rows notes them all in one statement)."""
    topics: set[str] = set()
    conn.info[_GATHERED] = topics
    try:
        yield
    finally:
        conn.info.pop(_GATHERED, None)
    record(conn, topics)


def install(engine: sa.Engine) -> None:
    """Tell this process's readers of `engine`'s changes once a changing transaction ended."""
    notifier = _Notifier(engine) if engine.dialect.name == "postgresql" else None

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record is None or not connection_record.info.pop(_CHANGED, False):
            return
        with _hooks_lock:
            hooks = list(_hooks)
        for hook in hooks:
            hook()
        if notifier is not None:
            notifier.poke()


class _Notifier:
    """Sends `NOTIFY brisa_changes` after changes, at most one every NOTIFY_EVERY seconds,
    from a thread that ends after a while without changes."""

    IDLE = 5.0  # seconds without a change after which the thread ends

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._due = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        self._due.set()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
                self._thread.start()

    def _notify(self) -> None:
        # On a pooled DBAPI connection, below the engine's statement events: the hint is
        # not one of the statements a reader or a test counts on this engine.
        conn = self._engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(f"SELECT pg_notify('{CHANNEL}', '')")
            cursor.close()
            conn.commit()
        finally:
            conn.close()

    def _run(self) -> None:
        while True:
            if not self._due.wait(self.IDLE):
                with self._lock:
                    if not self._due.is_set():
                        self._thread = None
                        return
            self._due.clear()
            try:
                self._notify()
            except (sa.exc.SQLAlchemyError, self._dbapi_error) as exc:  # a hint: readers poll
                log.debug("change notification not sent: %s", exc)
            time.sleep(NOTIFY_EVERY)


def run_topics(team: str, dag_id: str, run_pk: int) -> list[str]:
    return [f"run:{run_pk}", f"dag:{team}/{dag_id}", "health"]


def new_run_topics(team: str, dag_id: str, run_pk: int) -> list[str]:
    """A run was created: its topics, and the runs list's (`runs:<team>`, and `runs` for a
    caller who sees every team) whose "N new — show" bar counts it."""
    return [*run_topics(team, dag_id, run_pk), f"runs:{team}", "runs"]


def new_dag_topics(team: str, dag_id: str) -> list[str]:
    """A DAG appeared (new, or active again): its topic, and the DAG list's (`dags:<team>`,
    and `dags`) whose "N new DAGs — show" bar counts it."""
    return [f"dag:{team}/{dag_id}", f"dags:{team}", "dags"]


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
        url = engine.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._conn: Any = None
        self._closed = False
        with contextlib.suppress(Exception):  # the database may be down: made again in wait
            self._connect()

    def _connect(self) -> None:
        import psycopg

        self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
        self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """True when notified; a lost connection (the database restarting) is made again on
        a later call, and counts as a wake-up: what changed meanwhile was not heard."""
        import psycopg

        try:
            if self._conn is None:
                self._connect()
            notified: Iterator[Any] = self._conn.notifies(timeout=timeout, stop_after=1)
            return any(True for _ in notified)
        except psycopg.Error as exc:
            log.warning("listening for changes failed, listening again: %s", exc)
            self._drop()
            if not self._closed:
                time.sleep(min(timeout, 1.0))
            return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self._closed = True
        self._drop()


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
    reader: sa.Engine  # reads without a transaction of their own (engine.reader)

    def changes_after(
        self, last: int, also: Iterable[int] = (), limit: int = 1000
    ) -> list[tuple[int, str]]:
        """Changes after id `last`, plus those of ids `also` (ids a reader saw skipped, which
        a slower PostgreSQL transaction may still commit), oldest first."""
        return read_after(self.reader, last, list(also), limit)

    def last_change_id(self) -> int:
        return last_id(self.reader)

    def prune_changes(self, before: datetime) -> int:
        return prune(self.engine, before)

    def change_waiter(self) -> LocalWaiter | Listener:
        """Something whose `wait(timeout)` returns early when a change may have been made."""
        if self.engine.dialect.name == "postgresql":
            return Listener(self.engine)
        return LocalWaiter()
