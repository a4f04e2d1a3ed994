"""The worker-facing execution API: start, heartbeat, finish one attempt.

Hot path: a handful of calls per attempt, each a read of the attempt's token digest and a
single guarded update. A token is valid for exactly the attempt in the path, while it is
current (ADR 0008).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from brisa.api.app import Ctx
from brisa.control.execution import Worker, parse_outcome
from brisa.core.records import AttemptRef
from brisa.errors import InvalidInput

router = APIRouter(prefix="/execution/v1/attempts/{ti_id}/{try_number}")


def _attempt(
    ctx: Ctx, ti_id: int, try_number: int, authorization: Annotated[str | None, Header()] = None
) -> Worker:
    scheme, _, token = (authorization or "").partition(" ")
    ref = AttemptRef(ti_id, try_number)
    return ctx.execution.authenticate(ref, token if scheme == "Bearer" else "")


Attempt = Annotated[Worker, Depends(_attempt)]


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidInput("request body must be JSON") from None


@router.post("/start")
def start(ctx: Ctx, worker: Attempt, body: Annotated[Any, Depends(_json)]) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("pid"), int):
        raise InvalidInput('start needs {"hostname": str, "pid": int}')
    item = ctx.execution.start(worker, hostname=str(body.get("hostname", "")), pid=body["pid"])
    return item.to_json()


@router.post("/heartbeat", status_code=204)
def heartbeat(ctx: Ctx, worker: Attempt) -> Response:
    ctx.execution.heartbeat(worker.ref)
    return Response(status_code=204)


@router.post("/finish")
def finish(ctx: Ctx, worker: Attempt, body: Annotated[Any, Depends(_json)]) -> dict[str, Any]:
    success, value, error = parse_outcome(body)
    state = ctx.execution.finish(worker.ref, success=success, return_value=value, error=error)
    return {"state": state.value}
