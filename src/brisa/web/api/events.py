"""REST: a run's events — every move of its task instances, who made it and when — newest
first, filtered and paged by event id (`control.history`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from brisa.control.history import DEFAULT_LIMIT, MAX_LIMIT, Event, EventFilter, EventPage
from brisa.web.api import models
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, responses
from brisa.web.api.render import iso

router = APIRouter(prefix="/api/v1/teams/{team}/dags/{dag_id}/runs", route_class=StrictJsonRoute)

ActorQuery = Annotated[
    Literal["worker", "api", "scheduler"] | None,
    Query(description="only moves made by workers, by people (api) or by schedulers"),
]
StateQuery = Annotated[str | None, Query(max_length=20, description="only moves to this state")]
BeforeQuery = Annotated[
    int | None, Query(ge=1, le=2**63 - 1, description="events older than this id: `next_before`")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def event(found: Event) -> dict[str, Any]:
    return {
        "id": found.id,
        "task_id": found.task_id,
        "try_number": found.try_number,
        "from_state": found.from_state,
        "to_state": found.to_state,
        "at": iso(found.at),
        "actor": found.actor,
        "actor_kind": found.who.kind,
        "epoch": found.epoch,
        "who": found.who.words,
    }


def page(found: EventPage) -> dict[str, Any]:
    return {"events": [event(e) for e in found.events], "next_before": found.before}


@router.get(
    "/{run_id}/events", response_model=None, responses=responses(models.EventList, *READ, 404)
)
def run_events(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: Annotated[str | None, Query(max_length=250, description="only this task's")] = None,
    actor: ActorQuery = None,
    state: StateQuery = None,
    before: BeforeQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Every move of the run's task instances, newest first."""
    wanted = EventFilter(task_id or "", actor or "", state or "", before, limit)
    return page(ctx.queries.history.run_events(scope, team, dag_id, run_id, wanted))


@router.get(
    "/{run_id}/tasks/{task_id}/events",
    response_model=None,
    responses=responses(models.EventList, *READ, 404),
)
def task_events(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    actor: ActorQuery = None,
    state: StateQuery = None,
    before: BeforeQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Every move of one task instance (all its tries), newest first."""
    wanted = EventFilter("", actor or "", state or "", before, limit)
    return page(ctx.queries.history.task_events(scope, team, dag_id, run_id, task_id, wanted))
