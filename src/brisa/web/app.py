"""The application `brisa api` serves: the REST API with the web UI on it."""

from __future__ import annotations

from fastapi import FastAPI

from brisa.web.api.app import ApiContext
from brisa.web.api.app import create_app as create_api


def create_app(ctx: ApiContext) -> FastAPI:
    from brisa.web.ui.app import install

    app = create_api(ctx)
    install(app)
    return app
