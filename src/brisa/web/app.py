"""The application `brisa api` serves: the REST API with the web UI on it, behind the lanes
that keep the execution API's capacity apart from UI and REST traffic (`web/lanes.py`).

Pages and JSON travel gzipped when the client accepts it (UI.md A.5's transfer budgets: the
grid's 1 MB of HTML is 48 KB at level 1, compressed in a few milliseconds; level 9 costs
twenty times the CPU for 12 % less). Event streams (`text/event-stream`: `/_/events` and the
log lines) are never compressed, so nothing buffers them, and neither is the log download
(`text/plain`, streamed byte for byte as stored).

A worker's well-formed call of the execution API is answered by its own lane
(`web/executionlane.py`, ADR 0032), inside `Lanes` and `Metering`, before the rest."""

from __future__ import annotations

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from brisa.web.api import execution
from brisa.web.api.app import ApiContext
from brisa.web.api.app import create_app as create_api
from brisa.web.api.guard import guard_limits
from brisa.web.executionlane import ExecutionLane
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
    # Inside the lanes (their thread pool), outside everything the UI and REST need.
    app.add_middleware(
        ExecutionLane, ctx=ctx, limits=guard_limits(ctx.settings), routes=_execution_routes()
    )
    slots = ctx.settings.ui.request_slots
    app.state.ui_limiter = CapacityLimiter(slots)
    app.add_middleware(Lanes, ui_slots=slots, ui_limiter=app.state.ui_limiter)
    app.add_middleware(Metering, observe=ctx.monitor.metrics.api.observe)
    return app


def _execution_routes() -> dict[str, object]:
    """The routes the execution lane answers for, by verb: their templates label the metrics
    (the router's own routes: their paths hold its prefix, as the app's do)."""
    verbs = {execution.start: "start", execution.heartbeat: "heartbeat", execution.finish: "finish"}
    return {
        verbs[route.endpoint]: route
        for route in execution.router.routes
        if isinstance(route, APIRoute) and route.endpoint in verbs
    }
