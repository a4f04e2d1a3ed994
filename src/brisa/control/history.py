"""A run's events: every move of its task instances (the transition record), newest first,
with who made it in words — what the run page's Events tab, the task panel's History and
`GET …/runs/{run_id}/events` show. Filtered and paged in the database (`Store.run_moves`).

Who made a move, as the record names it (`store.actors`): "worker" (a worker's report),
"api" (a person, through the REST API or the UI), "scheduler" (the lone scheduler of a SQLite
deployment) or "scheduler:<host>/<pid>/<start>" with the epoch of its lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from brisa.control.queries import Scope, no_run
from brisa.core.leases import SCHEDULER_PREFIX, Identity
from brisa.core.records import RunRecord, TransitionRecord
from brisa.core.states import TaskState
from brisa.errors import InvalidInput, NotFound
from brisa.store import Store
from brisa.store.transitions import ACTOR_KINDS

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
STATES = tuple(s.value for s in TaskState)


@dataclass(frozen=True)
class Who:
    """Who made a move: its kind (worker, api, scheduler, unknown) and in words."""

    kind: str
    words: str
    host: str | None = None


def who(actor: str, epoch: int | None) -> Who:
    """'worker' → worker; 'api' → API (a person); 'scheduler:<host>/<pid>/<start>' with
    epoch n → scheduler <host> (lease epoch n)."""
    if actor == "worker":
        return Who("worker", "worker")
    if actor == "api":
        return Who("api", "API (a person)")
    if actor == "scheduler":
        return Who("scheduler", "scheduler")
    if actor.startswith(SCHEDULER_PREFIX):
        identity = Identity.parse(actor.removeprefix(SCHEDULER_PREFIX))
        host = identity.host if identity else actor.removeprefix(SCHEDULER_PREFIX)
        lease = f" (lease epoch {epoch})" if epoch is not None else ""
        return Who("scheduler", f"scheduler {host}{lease}", host)
    return Who("unknown", f"unknown ({actor})" if actor != "unknown" else "unknown")


@dataclass(frozen=True)
class Event:
    """One move of one of the run's task instances."""

    id: int
    task_id: str
    try_number: int
    from_state: str
    to_state: str
    at: datetime
    actor: str
    epoch: int | None
    who: Who


@dataclass(frozen=True)
class EventFilter:
    """What a list of events is narrowed to; empty values do not narrow."""

    task_id: str = ""
    actor: str = ""
    state: str = ""
    before: int | None = None
    limit: int = DEFAULT_LIMIT

    @property
    def narrowed(self) -> bool:
        """Whether something is filtered out (an empty list then means "nothing matches")."""
        return bool(self.task_id or self.actor or self.state)


@dataclass(frozen=True)
class EventPage:
    """A page of events; `task_ids`: the run's tasks (what the task filter offers)."""

    task_ids: tuple[str, ...]
    events: list[Event]
    filter: EventFilter
    before: int | None  # the cursor of the next (older) page; None on the last page


def check(run: RunRecord, wanted: EventFilter) -> EventFilter:
    """`wanted`, or InvalidInput naming the bad value and the ones allowed."""
    if wanted.actor and wanted.actor not in ACTOR_KINDS:
        raise InvalidInput(f"actor must be one of {', '.join(ACTOR_KINDS)}, not {wanted.actor!r}")
    if wanted.state and wanted.state not in STATES:
        known = ", ".join(STATES)
        raise InvalidInput(f"state must be a task state ({known}), not {wanted.state!r}")
    if wanted.task_id and wanted.task_id not in run.tasks:
        raise InvalidInput(
            f"run {run.run_id} has no task {wanted.task_id!r}; its tasks: {', '.join(run.tasks)}"
        )
    if not 1 <= wanted.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be from 1 to {MAX_LIMIT}, not {wanted.limit}")
    if wanted.before is not None and wanted.before < 1:
        raise InvalidInput(f"before must be a positive event id, not {wanted.before}")
    return wanted


def event(move: TransitionRecord) -> Event:
    return Event(
        id=move.id,
        task_id=move.task_id,
        try_number=move.try_number,
        from_state=move.from_state,
        to_state=move.to_state,
        at=move.at,
        actor=move.actor,
        epoch=move.epoch,
        who=who(move.actor, move.epoch),
    )


class History:
    """The reads behind a run's events, each for one caller's scope."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def run_events(
        self, scope: Scope, team: str, dag_id: str, run_id: str, wanted: EventFilter
    ) -> EventPage:
        """The run's events narrowed by `wanted` (InvalidInput for a bad filter)."""
        scope.require(team, no_run(team, dag_id, run_id))
        return self.of(self._store.get_run(team, dag_id, run_id), wanted)

    def task_events(
        self, scope: Scope, team: str, dag_id: str, run_id: str, task_id: str, wanted: EventFilter
    ) -> EventPage:
        """One task's events in its run (NotFound for a task the run does not have)."""
        scope.require(team, no_run(team, dag_id, run_id))
        run = self._store.get_run(team, dag_id, run_id)
        if task_id not in run.tasks:
            raise NotFound(f"run {run_id} has no task {task_id!r}")
        return self.of(run, EventFilter(task_id, wanted.actor, wanted.state, wanted.before,
                                        wanted.limit))  # fmt: skip

    def of(self, run: RunRecord, wanted: EventFilter) -> EventPage:
        """The events of a run the caller was already allowed to read."""
        check(run, wanted)
        found = self._store.run_moves(
            run.id,
            limit=wanted.limit + 1,  # one more tells whether an older page exists
            before=wanted.before,
            task_id=wanted.task_id or None,
            actors=[wanted.actor] if wanted.actor else [],
            states=[wanted.state] if wanted.state else [],
        )
        events = [event(m) for m in found[: wanted.limit]]
        older = events[-1].id if len(found) > wanted.limit else None
        return EventPage(tuple(run.tasks), events, wanted, older)
