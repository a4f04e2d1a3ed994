"""REST: the audit record (`GET /api/v1/audit`, what `/audit` shows): who asked for which
action, when, from where, on what, and how it ended; newest first, paged by `after`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from brisa.control.audit import AuditEntry as Entry
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, Model, responses
from brisa.web.api.render import iso

router = APIRouter(prefix="/api/v1", route_class=StrictJsonRoute)
Text = Annotated[str, Query(max_length=250)]


class AuditEntry(Model):
    """One action a person asked for."""

    id: int
    at: datetime
    user: str = Field(description='who asked: "api" until users exist (the API itself)')
    address: str = Field(description="the client's address as the API saw it")
    via: Literal["ui", "rest"]
    action: str = Field(description="pause, unpause, trigger, clear, mark_success, …")
    team: str
    target: str = Field(description="team/dag, team/dag/run, a repository or team/pool")
    outcome: Literal["ok", "refused", "failed"]
    message: str | None = Field(description="why it was refused or failed")
    detail: dict[str, Any] | None = Field(description="what changed (tasks, run id, …)")


class AuditPage(Model):
    entries: list[AuditEntry]
    next_cursor: str | None


def _params(
    team: Text = "",
    user: Text = "",
    action: Annotated[str, Query(max_length=250, description="actions, comma-separated")] = "",
    from_: Annotated[str, Query(alias="from", max_length=64, description="ISO 8601")] = "",
    to: Annotated[str, Query(max_length=64, description="ISO 8601")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str, Query(max_length=20, description="next_cursor of a page")] = "",
) -> dict[str, str]:
    named = {"team": team, "user": user, "action": action, "from": from_, "to": to}
    return {**named, "limit": str(limit), "after": after}


def entry(found: Entry) -> dict[str, Any]:
    return {
        "id": found.id,
        "at": iso(found.at),
        "user": found.actor,
        "address": found.address,
        "via": found.via,
        "action": found.action,
        "team": found.team,
        "target": found.target,
        "outcome": found.outcome,
        "message": found.message,
        "detail": found.detail,
    }


@router.get("/audit", response_model=None, responses=responses(AuditPage, *READ))
def audit(
    ctx: Ctx, scope: CallerScope, params: Annotated[dict[str, str], Depends(_params)]
) -> dict[str, Any]:
    """Actions people asked for in the visible teams, newest first."""
    found = ctx.commands.audit.entries(scope, params)
    return {"entries": [entry(e) for e in found.items], "next_cursor": found.next_cursor}
