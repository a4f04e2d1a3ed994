"""The execution API's own lane (ADR 0032): a worker's well-formed `start`, `heartbeat` or
`finish` is answered here, without the UI and REST middlewares (gzip, security headers, the
Host check the execution API is exempt from) and without FastAPI's routing, dependency
solving and request objects, which were most of the request plumbing's cost per call.

What still applies to every call: the metering (by the route's template, as before), the
lanes' thread pool (`web/lanes.py`: this runs inside `Lanes`, on the threads it sizes), the
body limit and the JSON content type of `web/api/guard.py`, the token (checked by the call's
own guarded write, `ExecutionService.*_with_token`), the strict JSON reading and the
validation of `web/api/execution.py`'s bodies, and the error answers of the API (`detail`,
the same statuses).

Anything this lane does not recognise as well-formed (another path or method, a body that
is not JSON or not valid, no `Content-Length`, one over the limit) goes on through the whole
stack with its body replayed, which answers it as it always did: the lane never answers an
error of its own making.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse, Response

from brisa.control.execution import Deferred
from brisa.core.records import AttemptRef
from brisa.errors import BrisaError
from brisa.web.api import execution
from brisa.web.api.app import ApiContext, bounded, error_status
from brisa.web.api.guard import (
    App,
    ClientGone,
    Limits,
    Receive,
    Refusal,
    Scope,
    Send,
    header,
    is_json,
    no_constant,
    read_body,
    refuse,
    replay,
)
from brisa.web.ui.errors import api_failure

# Ids as the routes take them (0 .. MAX_ID, no sign, no leading zero: anything else goes on).
_CALL = re.compile(
    r"^/execution/v1/attempts/(0|[1-9][0-9]{0,9})/(0|[1-9][0-9]{0,9})/(start|heartbeat|finish)$"
)
_BODIES: dict[str, type[BaseModel]] = {
    "start": execution.StartBody,
    "finish": execution.FinishBody,
}


class ExecutionLane:
    """ASGI middleware: well-formed worker calls answered here, the rest passed on.
    `routes`: the route of each verb (`start`, `heartbeat`, `finish`), for the metering."""

    def __init__(
        self, app: App, ctx: ApiContext, limits: Limits, routes: Mapping[str, object]
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.limits = limits
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _CALL.match(scope["path"]) if scope["type"] == "http" else None
        if found is None or scope["method"] != "POST" or not self._plain(scope):
            await self.app(scope, receive, send)
            return
        ti_id, try_number, verb = int(found[1]), int(found[2]), found[3]
        if max(ti_id, try_number) > execution.MAX_ID:
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, self.limits.body_limit(scope["path"]))
        except Refusal as refusal:
            await refuse(send, refusal)
            return
        except ClientGone:
            return
        call = self._call(verb, AttemptRef(ti_id, try_number), _bearer(scope), body)
        if call is None:  # not valid: answered by the whole stack, as always
            await self.app(scope, replay(body, receive), send)
            return
        scope["route"] = self.routes.get(verb)
        response: Response
        try:
            answer = await self._answer(call)
        except BrisaError as exc:
            response = JSONResponse({"detail": bounded(str(exc))}, error_status(exc))
        except Exception as exc:  # noqa: BLE001 - answered as the API answers it
            response = api_failure(scope["path"], exc)
        else:
            await _send(send, answer)
            return
        await response(scope, receive, send)

    async def _answer(self, call: Callable[[], bytes | None]) -> bytes | None:
        """SQLite: at once on the event loop while the write lock is free (a thread's turn
        cost more than the call, ADR 0036), else in a worker thread, where it may wait."""
        service = self.ctx.execution
        if service.inline:
            try:
                return service.at_once(call)
            except Deferred:
                pass
        return await anyio.to_thread.run_sync(call)

    def _plain(self, scope: Scope) -> bool:
        """A JSON body of a declared length within the limit (else the guard answers)."""
        if not is_json(header(scope, b"content-type") or ""):
            return False
        declared = (header(scope, b"content-length") or "").strip()
        limit = self.limits.body_limit(scope["path"])
        return declared.isascii() and declared.isdigit() and int(declared) <= limit

    def _call(
        self, verb: str, ref: AttemptRef, token: str, body: bytes
    ) -> Callable[[], bytes | None] | None:
        """What answers the call, run in a worker thread: its JSON answer's bytes (None: 204
        No Content); None when its body is not valid."""
        service = self.ctx.execution
        if verb == "heartbeat":  # its body is not read

            def beat() -> None:
                service.heartbeat_with_token(ref, token)

            return beat
        parsed = _parsed(verb, body)
        if isinstance(parsed, execution.StartBody):
            start = parsed

            def started() -> bytes:
                item = service.start_with_token(ref, token, hostname=start.hostname, pid=start.pid)
                return _json(item.to_json())

            return started
        if isinstance(parsed, execution.FinishBody):
            end = parsed

            def finished() -> bytes:
                state = service.finish_with_token(
                    ref,
                    token,
                    success=end.state == "success",
                    return_value=end.return_value,
                    error=end.error,
                )
                return _FINISHED.get(state.value) or _json({"state": state.value})

            return finished
        return None


def _json(content: Any) -> bytes:
    """JSON as Starlette's `JSONResponse` renders it (compact, UTF-8, no NaN)."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


# A finish's answers, made once (the states a finish ends in).
_FINISHED = {state: _json({"state": state}) for state in ("success", "failed", "up_for_retry")}
_JSON = (b"content-type", b"application/json")


async def _send(send: Send, body: bytes | None) -> None:
    """The answer as ASGI messages, without a response object: 200 with a JSON body, or 204."""
    if body is None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-length", str(len(body)).encode()), _JSON]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _parsed(verb: str, body: bytes) -> BaseModel | None:
    try:
        data: Any = json.loads(body, parse_constant=no_constant)
        return _BODIES[verb].model_validate(data)
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError too
        return None


def _bearer(scope: Scope) -> str:
    return execution.bearer_token(header(scope, b"authorization"))
