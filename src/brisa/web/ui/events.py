"""`GET /_/events?topics=…`: the page's one event stream (UI.md A.1-3, A.1-5; ADR 0017).

Topics a caller may not see are dropped silently, as if they named nothing. At most
`[ui] max_streams_per_user` streams are open per user (today: per client address); one more
answers 429 with `Retry-After`, and the page polls instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from urllib.parse import urlencode

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from brisa.web.api.app import context
from brisa.web.ui import resume
from brisa.web.ui.access import scope_of
from brisa.web.ui.eventstream import EventStream
from brisa.web.ui.streamslots import RETRY_AFTER, StreamSlots

router = APIRouter(include_in_schema=False)
MAX_TOPICS = 200
MAX_TOPIC_CHARS = 600
HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}


def requested_topics(raw: str) -> list[str]:
    """The distinct topics of a comma-separated list, in order; overlong ones left out."""
    seen: dict[str, None] = {}
    for topic in raw.split(",")[:MAX_TOPICS]:
        topic = topic.strip()
        if topic and len(topic) <= MAX_TOPIC_CHARS:
            seen[topic] = None
    return list(seen)


def events_url(request: Request, topics: list[str]) -> str:
    """The stream URL a page opens: its topics, and the change it was rendered at, so that
    what changes between the page's render and the stream's start is not missed."""
    ctx = context(request)
    query = {"topics": ",".join(topics)}
    if ctx.feed is not None:
        query["last_id"] = str(ctx.feed.last_id)
    return "/_/events?" + urlencode(query, safe=":/,@")


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/_/events")
async def events(request: Request, topics: str = "", last_id: str | None = None) -> Response:
    ctx = context(request)
    if ctx.feed is None or ctx.topics is None or ctx.feed.closing.is_set():
        return Response("live updates are off", status_code=503, headers={"Retry-After": "60"})
    wanted = requested_topics(topics)
    logs = {start.topic: start for t in wanted if (start := resume.log_start(t))}
    bases = [start.topic if (start := resume.log_start(t)) else t for t in wanted]
    limiter: CapacityLimiter = request.app.state.ui_limiter
    visible = await anyio.to_thread.run_sync(
        ctx.topics.visible, scope_of(request), bases, limiter=limiter
    )
    slots: StreamSlots = request.app.state.stream_slots
    key = client_key(request)
    if not slots.take(key):
        return Response(
            f"at most {slots.limit} live streams per user; this page polls instead",
            status_code=429,
            headers={"Retry-After": str(RETRY_AFTER)},
        )
    position = resume.parse(request.headers.get("last-event-id") or last_id)
    log = next((logs[t] for t in visible if t in logs), None)  # one log per stream
    follower = None
    if log is not None:
        log = resume.resumed_log(log, position)
        follower = await anyio.to_thread.run_sync(
            ctx.topics.follower,
            scope_of(request),
            log.ti_id,
            log.try_number,
            log.offset,
            limiter=limiter,
        )
    stream = EventStream(
        ctx.feed, visible, position, log=log, follower=follower, limiter=limiter,
        receive=request.receive,
    )  # fmt: skip
    return EventResponse(stream.run(), lambda: slots.give_back(key))


class EventResponse(StreamingResponse):
    """The stream's response; `release` runs once it is over, however it ended (even when
    the client left before the first byte)."""

    def __init__(self, body: AsyncIterator[str], release: Callable[[], None]) -> None:
        super().__init__(body, media_type="text/event-stream", headers=HEADERS)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def live_mode(request: Request) -> str:
    """ "sse" or "poll" (`[ui] live`); pages answer with it on <body>."""
    return context(request).settings.ui.live


def install(app: FastAPI) -> None:
    """The stream's per-process state, and the template helpers base.html uses."""
    ui = app.state.ctx.settings.ui
    app.state.stream_slots = StreamSlots(ui.max_streams_per_user)
    app.state.ui_env.globals.update(events_url=events_url, live_mode=live_mode)
