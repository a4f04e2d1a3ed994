"""REST: DAGs, import errors, health."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from brisa.web.api import models, render
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, WRITE, responses

router = APIRouter(prefix="/api/v1", route_class=StrictJsonRoute)


class DagPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    is_paused: bool


@router.get("/health", response_model=None, responses=responses(models.Health))
def health(ctx: Ctx) -> dict[str, Any]:
    return {"status": "ok", "database": ctx.queries.database()}


@router.get("/dags", response_model=None, responses=responses(models.DagList, *READ))
def find_dags(
    ctx: Ctx, scope: CallerScope, dag_id: str | None = None, team: str | None = None
) -> dict[str, Any]:
    """DAGs of every team (filter by dag_id to resolve a bare id)."""
    return {"dags": [render.dag(d) for d in ctx.queries.dags(scope, team=team, dag_id=dag_id)]}


@router.get("/teams/{team}/dags", response_model=None, responses=responses(models.DagList, *READ))
def list_dags(ctx: Ctx, scope: CallerScope, team: str) -> dict[str, Any]:
    return {"dags": [render.dag(d) for d in ctx.queries.dags(scope, team=team)]}


@router.get(
    "/teams/{team}/dags/{dag_id}",
    response_model=None,
    responses=responses(models.DagDetail, *READ, 404),
)
def get_dag(ctx: Ctx, scope: CallerScope, team: str, dag_id: str) -> dict[str, Any]:
    return render.dag(ctx.queries.dag(scope, team, dag_id), detail=True)


@router.patch(
    "/teams/{team}/dags/{dag_id}",
    response_model=None,
    responses=responses(models.DagDetail, *WRITE, 404),
)
def patch_dag(
    ctx: Ctx, scope: CallerScope, team: str, dag_id: str, body: DagPatch
) -> dict[str, Any]:
    return render.dag(ctx.commands.pause(scope, team, dag_id, body.is_paused), detail=True)


@router.get(
    "/import-errors", response_model=None, responses=responses(models.ImportErrorList, *READ)
)
def import_errors(
    ctx: Ctx, scope: CallerScope, team: Annotated[str | None, Query()] = None
) -> dict[str, Any]:
    found = ctx.queries.import_errors(scope, team=team)
    return {"import_errors": [render.import_error(e) for e in found]}
