"""REST: the attempts (tries) of a task instance as their own resource, and the raw log of
one, streamed from storage for a download."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse

from brisa.control.attempts import Attempt, download_name
from brisa.web.api import models, render
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, responses

TryNumber = Annotated[int, Path(ge=1, le=100_000)]
router = APIRouter(
    prefix="/api/v1/teams/{team}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/attempts",
    route_class=StrictJsonRoute,
)


HOLDER_KEYS = ("team", "dag_id", "run_id", "task_id", "try_number", "state", "slots")


def attempt_detail(found: Attempt) -> dict[str, Any]:
    record = found.record
    return {
        **render.attempt(record),
        "pid": record.pid,
        "max_tries": found.of,
        "current": found.current,
        "kind": found.spec.kind if found.spec else None,
        "repo": found.run.repo,
        # The try's own commit (a re-pinned run's earlier tries differ); the run's until queued.
        "code_version": (
            record.code_version if record.code_version is not None else found.run.code_version
        )
        or None,
        "waiting": found.waiting,
        "pod": dataclasses.asdict(found.pod) if found.pod is not None else None,
        "held_by": [
            {k: h[k] for k in HOLDER_KEYS}
            for h in (found.pool_wait.holders if found.pool_wait else [])
        ],
        "return_value": found.return_value,
    }


@router.get("", response_model=None, responses=responses(models.AttemptList, *READ, 404))
def list_attempts(
    ctx: Ctx, scope: CallerScope, team: str, dag_id: str, run_id: str, task_id: str
) -> dict[str, Any]:
    found = ctx.attempts.list(scope, team, dag_id, run_id, task_id)
    return {"attempts": [render.attempt(a) for a in found.tries]}


@router.get("/{number}", response_model=None, responses=responses(models.AttemptDetail, *READ, 404))
def get_attempt(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    number: TryNumber,
) -> dict[str, Any]:
    return attempt_detail(ctx.attempts.get(scope, team, dag_id, run_id, task_id, number))


@router.get(
    "/{number}/logs/raw",
    response_model=None,
    response_class=StreamingResponse,
    responses={
        **responses(None, *READ, 404),
        200: {
            "description": "The log as stored",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
)
def raw_log(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    number: TryNumber,
) -> StreamingResponse:
    """The try's log byte for byte as stored (secrets already masked by the worker), read a
    block at a time: never held whole in memory."""
    found = ctx.attempts.get(scope, team, dag_id, run_id, task_id, number)
    name = download_name(found.run, task_id, number)
    return StreamingResponse(
        ctx.attempts.raw(found),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
