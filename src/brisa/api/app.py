"""The FastAPI application: error mapping and the shared context; routes live per resource."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from brisa.control.commands import Commands
from brisa.control.execution import ExecutionService
from brisa.control.queries import EVERY_TEAM, Queries, Scope
from brisa.errors import BrisaError, Conflict, InvalidInput, NotFound, Unauthorized
from brisa.settings import Settings

STATUS = {InvalidInput: 400, Unauthorized: 401, NotFound: 404, Conflict: 409}


@dataclass(frozen=True)
class ApiContext:
    """What handlers call: the control plane's services, never the store."""

    settings: Settings
    queries: Queries
    commands: Commands
    execution: ExecutionService


def _status(exc: BrisaError) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 500


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def create_app(ctx: ApiContext) -> FastAPI:
    from brisa.api import dags, execution, repos, runs

    app = FastAPI(
        title="Brisa",
        version="0.1.0",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx

    @app.exception_handler(BrisaError)
    def _brisa_error(_: Request, exc: BrisaError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_status(exc))

    @app.exception_handler(RequestValidationError)
    def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=400)

    @app.exception_handler(HTTPException)
    def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    app.include_router(dags.router)
    app.include_router(runs.router)
    app.include_router(repos.router)
    app.include_router(execution.router)
    return app


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def caller_scope(request: Request) -> Scope:
    """The teams the caller may see. Every team until users and teams land; then the teams
    of the user the request authenticates as."""
    return EVERY_TEAM


Ctx = Annotated[ApiContext, Depends(context)]
CallerScope = Annotated[Scope, Depends(caller_scope)]
