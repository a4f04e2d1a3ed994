"""Puts the web UI on the API's application: pages, fragments, static files, HTML errors and
the security headers."""

from __future__ import annotations

from fastapi import FastAPI

from brisa.web.ui import attempt, code, config, errors, logview, pages, trigger
from brisa.web.ui.assets import Assets
from brisa.web.ui.security import SecurityHeaders
from brisa.web.ui.templating import environment


def install(app: FastAPI) -> None:
    assets = Assets()
    app.state.ui_env = environment(assets)
    app.include_router(assets.router())
    app.include_router(pages.router)
    app.include_router(attempt.router)
    app.include_router(logview.router)
    app.include_router(code.router)
    app.include_router(trigger.router)
    app.include_router(config.router)
    errors.install(app)
    app.add_middleware(SecurityHeaders)
