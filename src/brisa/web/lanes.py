"""Two lanes through the API process (UI.md A.1-6): UI and REST traffic can never take the
capacity the worker-facing execution API needs.

Synchronous handlers run in anyio's worker threads. A UI or REST request first takes one of
`ui_slots` places (waiting, without a thread, when all are taken), so at most that many
threads ever serve them; the thread pool is sized to `EXECUTION_THREADS` more than that,
which execution calls (`/execution/…`) always find. Event streams hold no thread and are
limited per user instead (`web/ui/streamslots.py`); a stream's own reads (topic checks, log
polls) go through `ui_limiter`.

A UI or REST request that waited `QUEUE_TIMEOUT` seconds for a place answers 503 with
`Retry-After`, rather than piling up.
"""

from __future__ import annotations

import asyncio

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

EXECUTION_THREADS = 40
UI_SLOTS = 16
QUEUE_TIMEOUT = 10.0
# Probes and scrapes never wait behind UI traffic either: a busy UI is no reason to restart.
EXEMPT = ("/execution/", "/_/events", "/health/", "/metrics")


class Lanes:
    """ASGI middleware; `ui_limiter` is the UI lane's thread limit for explicit thread calls
    (its threads come out of the same pool, so the pool grows by its size too)."""

    def __init__(
        self, app: ASGIApp, ui_slots: int = UI_SLOTS, ui_limiter: CapacityLimiter | None = None
    ) -> None:
        self.app = app
        self.ui_slots = ui_slots
        self.ui_limiter = ui_limiter or CapacityLimiter(ui_slots)
        self._places: asyncio.Semaphore | None = None

    def _sized(self) -> asyncio.Semaphore:
        if self._places is None:  # first request: inside the server's event loop
            limiter = anyio.to_thread.current_default_thread_limiter()
            wanted = EXECUTION_THREADS + self.ui_slots + int(self.ui_limiter.total_tokens)
            limiter.total_tokens = max(limiter.total_tokens, wanted)
            self._places = asyncio.Semaphore(self.ui_slots)
        return self._places

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        places = self._sized()
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        try:
            await asyncio.wait_for(places.acquire(), QUEUE_TIMEOUT)
        except TimeoutError:
            await _busy(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            places.release()


async def _busy(send: Send) -> None:
    body = b'{"detail": "the server is busy; try again shortly"}'
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", b"5"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
