"""Fencing: writes made on behalf of a lease change nothing once the lease is lost (ADR 0019).

A scheduler applies its decisions inside `fenced_by(fence)`. While a fence is set, every
guarded state change (`guards.guarded_update`) and every run it creates carries a condition
read by the database in the same statement: the lease is still the writer's, at the epoch it
acquired, and not expired on the database's clock. A scheduler that was paused past its lease
(SIGSTOP, a frozen VM) and resumes mid-pass therefore writes nothing: its statements match 0
rows, as a lost race does. While fenced, an attempt that another scheduler owns (queued or
running with another `owner`) is not moved either.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from brisa.store.tables import leases, task_instances


@dataclass(frozen=True)
class Fence:
    lease: str  # the lease's name, e.g. "scheduler:<identity>"
    holder: str
    epoch: int


_current: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("fence", default=None)


@contextlib.contextmanager
def fenced_by(fence: Fence) -> Iterator[None]:
    """Make the writes in this block conditional on `fence` still holding."""
    token = _current.set(fence)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Fence | None:
    return _current.get()


def db_now(dialect: str) -> sa.ColumnElement[float]:
    """Now on the database's clock, as seconds since the epoch (never a process's clock)."""
    if dialect == "postgresql":
        return sa.func.extract("epoch", sa.func.clock_timestamp()).cast(sa.Float)
    return (sa.func.julianday("now") - 2440587.5) * 86400.0


@functools.lru_cache(maxsize=16)
def lease_holds(fence: Fence, dialect: str) -> sa.ColumnElement[bool]:
    """True while `fence`'s lease is still held, at its epoch, and not expired. Built once
    per fence (a scheduler keeps its fence for as long as its lease: every pass would build
    the same conditions, and SQLAlchemy would key them again)."""
    return sa.exists().where(
        leases.c.name == fence.lease,
        leases.c.holder == fence.holder,
        leases.c.epoch == fence.epoch,
        leases.c.expires_at > db_now(dialect),
    )


def task_conditions(dialect: str) -> list[sa.ColumnElement[bool]]:
    """What a fenced move of task instances adds to its WHERE clause (nothing unfenced)."""
    fence = _current.get()
    return [] if fence is None else list(_task_conditions(fence, dialect))


@functools.lru_cache(maxsize=16)
def _task_conditions(fence: Fence, dialect: str) -> tuple[sa.ColumnElement[bool], ...]:
    ti = task_instances.c
    not_anothers = sa.or_(
        ti.state.notin_(["queued", "running"]), ti.owner.is_(None), ti.owner == fence.holder
    )
    return (lease_holds(fence, dialect), not_anothers)


def conditions(dialect: str) -> list[sa.ColumnElement[bool]]:
    """What a fenced write of any other row adds to its WHERE clause (nothing unfenced)."""
    fence = _current.get()
    return [] if fence is None else [lease_holds(fence, dialect)]


def still_holds(conn: sa.Connection) -> bool:
    """Inside a transaction: whether the current fence (if any) still holds."""
    fence = _current.get()
    if fence is None:
        return True
    return bool(conn.execute(sa.select(lease_holds(fence, conn.dialect.name))).scalar())
