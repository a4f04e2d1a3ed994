"""Health and metrics of the API process: `/health/live`, `/health/ready`, `/metrics`, and
`/api/v1/health` (the readiness report with the database's backend, kept for its clients).

Probes and scrapes answer to any Host name (`guard.EXEMPT_FROM_HOST`) and never wait behind UI
traffic (`lanes.EXEMPT`). What they check is in `brisa.metrics.health`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from brisa.web.api import models
from brisa.web.api.app import Ctx
from brisa.web.api.models import responses

router = APIRouter()

FAILING: dict[int | str, dict[str, Any]] = {
    503: {"model": models.HealthReport, "description": "A check failed; see `checks`"}
}


def _answer(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get(
    "/health/live", response_model=None, responses={**responses(models.HealthReport), **FAILING}
)
def live(ctx: Ctx) -> JSONResponse:
    """The process answers and its loops come round (the scheduler's passes, the DAG sources'
    passes, when they run in this process)."""
    return _answer(*ctx.monitor.live())


@router.get(
    "/health/ready", response_model=None, responses={**responses(models.HealthReport), **FAILING}
)
def ready(ctx: Ctx) -> JSONResponse:
    """The database answers, its schema is the newest, and the object store is configured."""
    return _answer(*ctx.monitor.ready())


@router.get(
    "/api/v1/health", response_model=None, responses={**responses(models.Health), **FAILING}
)
def health(ctx: Ctx) -> JSONResponse:
    """The readiness report (as `/health/ready`), with the database's backend."""
    status, body = ctx.monitor.ready()
    backend = ctx.settings.database_url.split(":", 1)[0].split("+", 1)[0]
    database = "postgresql" if backend.startswith("postgres") else "sqlite"
    return _answer(status, {"status": body["status"], "database": database, **body})


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: Ctx) -> Response:
    """Prometheus text format (docs/operations.md lists every metric)."""
    body, content_type = ctx.monitor.exposition()
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
