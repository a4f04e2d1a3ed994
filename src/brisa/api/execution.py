"""The worker-facing execution API: start, heartbeat, finish one attempt.

Hot path: a handful of calls per attempt, each a single guarded update. A token is valid
for exactly the attempt in the path.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from brisa.api.app import Ctx
from brisa.control.execution import parse_outcome
from brisa.core import tokens
from brisa.core.records import AttemptRef
from brisa.errors import InvalidInput, Unauthorized

router = APIRouter(prefix="/execution/v1/attempts/{ti_id}/{try_number}")


def _attempt(
    ctx: Ctx, ti_id: int, try_number: int, authorization: Annotated[str | None, Header()] = None
) -> AttemptRef:
    ref = AttemptRef(ti_id, try_number)
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorized("missing execution token (Authorization: Bearer ...)")
    tokens.verify(ctx.settings.core.secret_key, authorization.removeprefix("Bearer "), ref)
    return ref


Attempt = Annotated[AttemptRef, Depends(_attempt)]


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidInput("request body must be JSON") from None


@router.post("/start")
def start(ctx: Ctx, ref: Attempt, body: Annotated[Any, Depends(_json)]) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("pid"), int):
        raise InvalidInput('start needs {"hostname": str, "pid": int}')
    item = ctx.execution.start(ref, hostname=str(body.get("hostname", "")), pid=body["pid"])
    return item.to_json()


@router.post("/heartbeat", status_code=204)
def heartbeat(ctx: Ctx, ref: Attempt) -> Response:
    ctx.execution.heartbeat(ref)
    return Response(status_code=204)


@router.post("/finish")
def finish(ctx: Ctx, ref: Attempt, body: Annotated[Any, Depends(_json)]) -> dict[str, Any]:
    success, value, error = parse_outcome(body)
    state = ctx.execution.finish(ref, success=success, return_value=value, error=error)
    return {"state": state.value}
