"""Serving the application with uvicorn (`brisa api`, `brisa standalone`)."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from types import FrameType

    from fastapi import FastAPI

KEEP_ALIVE = 15  # seconds an idle API connection stays open (worker.client.IDLE_LIMIT is less)


def wire() -> tuple[str, str]:
    """uvicorn's HTTP parser and event loop: httptools and uvloop (C, dependencies of Brisa)
    where they are importable, else h11 and asyncio's own loop (pure Python, always there)."""
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return http, loop


def serve(
    app: FastAPI,
    *,
    host: str,
    port: int,
    on_started: Callable[[], None],
    on_exit: Callable[[], None],
    start_thread: Callable[[str, Callable[[threading.Event], None]], None],
) -> None:
    """Serve `app` in this thread until interrupted. `on_started` runs once the server accepts
    connections; `on_exit` as soon as it begins to stop (it ends what would hold the shutdown:
    the event streams)."""
    http, loop = wire()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,  # most of each worker call's request plumbing (ADR 0032)
        loop=loop,
        log_level="warning",
        log_config=None,  # uvicorn's records go to the process's handler (text or JSON)
        access_log=False,
        # Workers keep one connection for their calls (worker.client), dropped once idle
        # for IDLE_LIMIT: the server keeps it open for longer than that.
        timeout_keep_alive=KEEP_ALIVE,
        # Event streams end when the server begins to stop (`handle_exit`); this bounds
        # the wait for any other long request.
        timeout_graceful_shutdown=5,
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            on_exit()
            super().handle_exit(sig, frame)

    server = Server(config)

    def wait_for_start(stop: threading.Event) -> None:
        while not server.started and not stop.wait(0.01):
            pass
        if server.started:
            on_started()

    start_thread("api-started", wait_for_start)
    server.run()
