"""The latency of every request, by route template (`/api/v1/teams/{team}/dags/{dag_id}`,
never the raw path: the labels stay few), method and status class. The outermost middleware,
so the time a request waited for a UI lane counts too.

Event streams (`text/event-stream`) are left out: they last as long as a page stays open. A
request refused before routing (a host not allowed, a lane busy, a path no route matches) has
no template: it counts as route `unmatched`."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
Observe = Callable[[str, str, int, float], None]  # (route, method, status, seconds)


class Metering:
    def __init__(self, app: ASGIApp, observe: Observe) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, stream = 500, False

        async def watch(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                stream = any(
                    key == b"content-type" and value.startswith(b"text/event-stream")
                    for key, value in message.get("headers", ())
                )
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not stream:
                route = getattr(scope.get("route"), "path", None) or UNMATCHED
                self.observe(route, scope["method"], status, time.perf_counter() - started)
