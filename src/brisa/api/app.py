"""The FastAPI application: error mapping and the shared context; routes live per resource."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from brisa.control.execution import ExecutionService
from brisa.errors import BrisaError, Conflict, InvalidInput, NotFound, Unauthorized
from brisa.objectstore import ObjectStore
from brisa.settings import Settings
from brisa.store import Store

STATUS = {InvalidInput: 400, Unauthorized: 401, NotFound: 404, Conflict: 409}


@dataclass(frozen=True)
class ApiContext:
    store: Store
    settings: Settings
    clock: Callable[[], datetime]
    wake: Callable[[], None]
    execution: ExecutionService
    objects: ObjectStore
    # Sync a repository now (in-process, or through the store for a separate processor).
    request_sync: Callable[[str], None] = lambda name: None


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
