"""The application `brisa api` serves: the REST API with the web UI on it, behind the lanes
that keep the execution API's capacity apart from UI and REST traffic (`web/lanes.py`).

Pages and JSON travel gzipped when the client accepts it (UI.md A.5's transfer budgets: the
grid's 1 MB of HTML is 48 KB at level 1, compressed in a few milliseconds; level 9 costs
twenty times the CPU for 12 % less). Event streams (`text/event-stream`: `/_/events` and the
log lines) are never compressed, so nothing buffers them, and neither is the log download
(`text/plain`, streamed byte for byte as stored)."""

from __future__ import annotations

from anyio import CapacityLimiter
from fastapi import FastAPI
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from brisa.web.api.app import ApiContext
from brisa.web.api.app import create_app as create_api
from brisa.web.lanes import Lanes
from brisa.web.metering import Metering


def create_app(ctx: ApiContext) -> FastAPI:
    from brisa.web.ui.app import install

    app = create_api(ctx)
    install(app)
    app.add_middleware(
        GZipMiddleware,
        minimum_size=1024,
        compresslevel=1,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "text/plain"),
    )
    slots = ctx.settings.ui.request_slots
    app.state.ui_limiter = CapacityLimiter(slots)
    app.add_middleware(Lanes, ui_slots=slots, ui_limiter=app.state.ui_limiter)
    app.add_middleware(Metering, observe=ctx.monitor.metrics.api.observe)
    return app
