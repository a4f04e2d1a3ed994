"""Who is acting: the actor (and its lease epoch) that the transition record names.

Each edge says who it is once, around the work it does on someone's behalf: the execution
API for a worker's reports ("worker"), the REST API and UI for a person's actions ("api"),
the scheduler for its pass ("scheduler:<identity>" with the epoch of its lease). The guarded
state change (`guards.guarded_update`) reads `current()` when it records a move in
`task_transitions`, so no verb has to pass it along. A context variable, so that threads and
asyncio tasks each see their own actor.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

UNKNOWN: tuple[str, int | None] = ("unknown", None)

_actor: contextvars.ContextVar[tuple[str, int | None]] = contextvars.ContextVar(
    "brisa_actor", default=UNKNOWN
)


@contextmanager
def acting_as(actor: str, epoch: int | None = None) -> Iterator[None]:
    """Moves made inside the block are recorded as made by `actor` (at lease `epoch`)."""
    token = _actor.set((actor, epoch))
    try:
        yield
    finally:
        _actor.reset(token)


def current() -> tuple[str, int | None]:
    """The acting (actor, epoch); ("unknown", None) outside any `acting_as`."""
    return _actor.get()
