"""The worker-facing execution API: start, heartbeat, finish one attempt.

Hot path: a handful of calls per attempt, each a single guarded update whose conditions hold
the presented token's digest; the token is read only to answer a call that changed nothing.
A token is valid for exactly the attempt in the path, while it is current (ADR 0008). Each
handler checks the token in its own thread: a dependency that is a plain function would take
another turn through the thread pool on every call (ADR 0026). A body that is not valid is
answered 400 before the token is looked at (it was 401 first when the token was a dependency).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from brisa.core.records import AttemptRef
from brisa.web.api import models
from brisa.web.api.app import Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import EXECUTION, responses

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


TiId = Annotated[int, Path(ge=0, le=MAX_ID)]
TryNumber = Annotated[int, Path(ge=0, le=MAX_ID)]
Authorization = Annotated[str | None, Header()]


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    return token if scheme == "Bearer" else ""


@router.post(
    "/exchange",
    response_model=None,
    responses=responses(models.Exchanged, *EXECUTION, 403, 503),
)
def exchange(
    ctx: Ctx,
    ti_id: Annotated[int, Path(ge=0, le=MAX_ID)],
    try_number: Annotated[int, Path(ge=0, le=MAX_ID)],
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """A worker pod's projected service account token (Authorization: Bearer) for the
    attempt's execution token, once, before the attempt starts (ADR 0029)."""
    scheme, _, pod_token = (authorization or "").partition(" ")
    ref = AttemptRef(ti_id, try_number)
    token = ctx.execution.exchange(ref, pod_token if scheme == "Bearer" else "")
    return JSONResponse({"token": token})


@router.post("/start", response_model=None, responses=responses(models.WorkItem, *EXECUTION))
def start(
    ctx: Ctx,
    ti_id: TiId,
    try_number: TryNumber,
    body: StartBody,
    authorization: Authorization = None,
) -> JSONResponse:
    ref, token = AttemptRef(ti_id, try_number), bearer_token(authorization)
    item = ctx.execution.start_with_token(ref, token, hostname=body.hostname, pid=body.pid)
    return JSONResponse(item.to_json())


@router.post(
    "/heartbeat",
    status_code=204,
    response_model=None,
    responses=responses(None, *EXECUTION, status=204),
)
def heartbeat(
    ctx: Ctx, ti_id: TiId, try_number: TryNumber, authorization: Authorization = None
) -> Response:
    ctx.execution.heartbeat_with_token(AttemptRef(ti_id, try_number), bearer_token(authorization))
    return Response(status_code=204)


@router.post("/finish", response_model=None, responses=responses(models.Finished, *EXECUTION))
def finish(
    ctx: Ctx,
    ti_id: TiId,
    try_number: TryNumber,
    body: FinishBody,
    authorization: Authorization = None,
) -> JSONResponse:
    state = ctx.execution.finish_with_token(
        AttemptRef(ti_id, try_number),
        bearer_token(authorization),
        success=body.state == "success",
        return_value=body.return_value,
        error=body.error,
    )
    return JSONResponse({"state": state.value})
