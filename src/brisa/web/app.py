"""The application `brisa api` serves: the REST API with the web UI on it, behind the lanes
that keep the execution API's capacity apart from UI and REST traffic (`web/lanes.py`)."""

from __future__ import annotations

from anyio import CapacityLimiter
from fastapi import FastAPI

from brisa.web.api.app import ApiContext
from brisa.web.api.app import create_app as create_api
from brisa.web.lanes import Lanes


def create_app(ctx: ApiContext) -> FastAPI:
    from brisa.web.ui.app import install

    app = create_api(ctx)
    install(app)
    slots = ctx.settings.ui.request_slots
    app.state.ui_limiter = CapacityLimiter(slots)
    app.add_middleware(Lanes, ui_slots=slots, ui_limiter=app.state.ui_limiter)
    return app
