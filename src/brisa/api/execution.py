"""The worker-facing execution API: start, heartbeat, finish one attempt.

Hot path: a handful of calls per attempt, each a single guarded update. A token is valid
for exactly the attempt in the path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from brisa.api import models
from brisa.api.app import Ctx
from brisa.api.guard import StrictJsonRoute
from brisa.api.models import EXECUTION, responses
from brisa.core import tokens
from brisa.core.records import AttemptRef
from brisa.errors import Unauthorized

router = APIRouter(
    prefix="/execution/v1/attempts/{ti_id}/{try_number}", route_class=StrictJsonRoute
)
MAX_ID = 2**31 - 1  # the store's integer columns


class StartBody(BaseModel):
    hostname: str = Field(default="", max_length=255)
    pid: int = Field(ge=0, le=MAX_ID)


class FinishBody(BaseModel):
    state: Literal["success", "failed"]
    return_value: Any = None
    error: str | None = None


def _attempt(
    ctx: Ctx,
    ti_id: Annotated[int, Path(ge=0, le=MAX_ID)],
    try_number: Annotated[int, Path(ge=0, le=MAX_ID)],
    authorization: Annotated[str | None, Header()] = None,
) -> AttemptRef:
    ref = AttemptRef(ti_id, try_number)
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("missing execution token (Authorization: Bearer ...)")
    tokens.verify(ctx.settings.core.secret_key, authorization.removeprefix("Bearer "), ref)
    return ref


Attempt = Annotated[AttemptRef, Depends(_attempt)]


@router.post("/start", response_model=None, responses=responses(models.WorkItem, *EXECUTION))
def start(ctx: Ctx, ref: Attempt, body: StartBody) -> JSONResponse:
    item = ctx.execution.start(ref, hostname=body.hostname, pid=body.pid)
    out = dict(item.__dict__)
    for key in ("logical_date", "data_interval_start", "data_interval_end"):
        out[key] = out[key].isoformat()
    return JSONResponse(out)


@router.post(
    "/heartbeat",
    status_code=204,
    response_model=None,
    responses=responses(None, *EXECUTION, status=204),
)
def heartbeat(ctx: Ctx, ref: Attempt) -> Response:
    ctx.execution.heartbeat(ref)
    return Response(status_code=204)


@router.post("/finish", response_model=None, responses=responses(models.Finished, *EXECUTION))
def finish(ctx: Ctx, ref: Attempt, body: FinishBody) -> JSONResponse:
    success = body.state == "success"
    state = ctx.execution.finish(
        ref, success=success, return_value=body.return_value, error=body.error
    )
    return JSONResponse({"state": state.value})
