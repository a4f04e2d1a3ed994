"""The FastAPI application: error mapping and the shared context; routes live per resource."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from brisa.control.attempts import Attempts
from brisa.control.changefeed import ChangeFeed
from brisa.control.code import CodeSnapshots
from brisa.control.commands import Commands
from brisa.control.execution import ExecutionService
from brisa.control.livetopics import LiveTopics
from brisa.control.queries import EVERY_TEAM, Queries, Scope
from brisa.control.summary import Summary
from brisa.errors import (
    BrisaError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unavailable,
)
from brisa.metrics.monitor import Monitor, unregistered_monitor
from brisa.settings import Settings
from brisa.web.api.guard import QUOTE_LIMIT, RequestGuard, guard_limits

STATUS = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unavailable: 503,
}
MAX_ERRORS = 5  # validation errors named in one message
MAX_DETAIL = 1000  # characters of an error message (see `bounded`)


@dataclass(frozen=True)
class ApiContext:
    """What handlers call: the control plane's services, never the store."""

    settings: Settings
    queries: Queries
    commands: Commands
    execution: ExecutionService
    attempts: Attempts
    code: CodeSnapshots
    # Live updates (ADR 0017): the process's change feed and who may follow which topic.
    feed: ChangeFeed | None = None
    topics: LiveTopics | None = None
    summary: Summary | None = None
    # This process's metrics and health checks (`/metrics`, `/health/*`).
    monitor: Monitor = field(default_factory=lambda: unregistered_monitor())


def error_status(exc: BrisaError) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 500


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:MAX_ERRORS]:
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", "")
            parts.append(f"the body is not valid JSON: {reason}")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{_cut(where)}: {_cut(err.get('msg', 'invalid'))}")
    return "invalid request: " + "; ".join(parts)


def _cut(text: str, limit: int = QUOTE_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def bounded(detail: str) -> str:
    """An error message of at most about MAX_DETAIL characters: a message that quotes a huge
    input keeps its start and its end (what to do), not the input whole."""
    if len(detail) <= MAX_DETAIL:
        return detail
    half = MAX_DETAIL // 2
    return (
        f"{detail[:half]} ... ({len(detail) - 2 * half} characters left out) ... {detail[-half:]}"
    )


def create_app(ctx: ApiContext) -> FastAPI:
    from brisa.web.api import (
        attempts,
        audit,
        code,
        config,
        dags,
        events,
        execution,
        health,
        lists,
        openapi,
        pools,
        repos,
        runs,
    )

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
        return JSONResponse({"detail": bounded(str(exc))}, status_code=error_status(exc))

    @app.exception_handler(RequestValidationError)
    def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=400)

    @app.exception_handler(HTTPException)
    def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": bounded(str(exc.detail))}, status_code=exc.status_code)

    # The workers' hot path first: a request is matched against the routes in order (ADR 0026).
    app.include_router(execution.router)
    app.include_router(health.router)
    app.include_router(dags.router)
    app.include_router(runs.router)
    app.include_router(lists.router)
    app.include_router(attempts.router)
    app.include_router(events.router)
    app.include_router(code.router)
    app.include_router(repos.router)
    app.include_router(pools.router)
    app.include_router(config.router)
    app.include_router(audit.router)
    app.add_middleware(RequestGuard, limits=guard_limits(ctx.settings))
    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]
    return app


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


def caller_scope(request: Request) -> Scope:
    """The teams the caller may see, and who the caller is for the audit record. Every team
    until users and teams land; then the teams of the user the request authenticates as, and
    that user's name instead of "api" (the API itself, the only identity known today)."""
    address = request.client.host if request.client else ""
    via = "rest" if request.url.path.startswith("/api/") else "ui"
    return replace(EVERY_TEAM, address=address, via=via)


async def _context(request: Request) -> ApiContext:
    return context(request)


async def _caller_scope(request: Request) -> Scope:
    return caller_scope(request)


# Resolved by coroutines, on the event loop: a dependency that is a plain function takes a
# turn through the thread pool in every request that names it (ADR 0026).
Ctx = Annotated[ApiContext, Depends(_context)]
CallerScope = Annotated[Scope, Depends(_caller_scope)]
