"""Puts the web UI on the API's application: pages, fragments, static files, HTML errors and
the security headers."""

from __future__ import annotations

from fastapi import FastAPI

from brisa.web.ui import (
    attempt,
    audit,
    bulkactions,
    code,
    config,
    dag,
    errors,
    events,
    gridcache,
    lists,
    logview,
    newbars,
    overview,
    pages,
    pools,
    sources,
    trigger,
)
from brisa.web.ui.assets import Assets
from brisa.web.ui.security import SecurityHeaders
from brisa.web.ui.templating import environment


def install(app: FastAPI) -> None:
    assets = Assets()
    app.state.ui_env = environment(assets)
    app.state.grid_cache = gridcache.for_settings(app.state.ctx.settings.ui.grid_cache_mb)
    app.include_router(assets.router())
    app.include_router(pages.router)
    app.include_router(attempt.router)
    app.include_router(logview.router)
    app.include_router(code.router)
    app.include_router(trigger.router)
    app.include_router(config.router)
    app.include_router(audit.router)
    app.include_router(overview.router)
    app.include_router(lists.router)
    app.include_router(newbars.router)
    app.include_router(bulkactions.router)
    app.include_router(sources.router)
    app.include_router(pools.router)
    app.include_router(events.router)
    events.install(app)
    app.include_router(dag.router)
    errors.install(app)
    app.add_middleware(SecurityHeaders)
