"""REST: DAGs and import errors (health: `web.api.health`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from brisa.control import dag_list
from brisa.web.api import models, render
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, WRITE, responses

router = APIRouter(prefix="/api/v1", route_class=StrictJsonRoute)


class DagPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    is_paused: bool


def _list_params(
    q: Annotated[str, Query(max_length=200, description="text in the id or description")] = "",
    tag: Annotated[str, Query(max_length=200)] = "",
    owner: Annotated[str, Query(max_length=200, description="exactly this owner")] = "",
    state: Annotated[str, Query(description="last run state: " + ", ".join(dag_list.STATES))] = "",
    paused: Annotated[bool | None, Query()] = None,
    sort: Annotated[str, Query(description=", ".join(dag_list.SORTS))] = "name",
    limit: Annotated[int, Query(ge=1, le=dag_list.MAX_LIMIT)] = 50,
    after: Annotated[str, Query(max_length=2000, description="next_cursor of a page")] = "",
) -> dict[str, str]:
    values = {"q": q, "tag": tag, "owner": owner, "state": state, "sort": sort, "after": after}
    values["limit"] = str(limit)
    if paused is not None:
        values["paused"] = "true" if paused else "false"
    return values


ListParams = Annotated[dict[str, str], Depends(_list_params)]


@router.get("/dags", response_model=None, responses=responses(models.DagList, *READ))
def find_dags(
    ctx: Ctx,
    scope: CallerScope,
    params: ListParams,
    dag_id: Annotated[str | None, Query(max_length=250)] = None,
    team: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """DAGs of every team, filtered and paged (filter by dag_id to resolve a bare id)."""
    query = dag_list.query_from({**params, "dag_id": dag_id or ""}, team)
    return render.dag_page(ctx.queries.lists.dags(scope, query))


@router.get("/teams/{team}/dags", response_model=None, responses=responses(models.DagList, *READ))
def list_dags(ctx: Ctx, scope: CallerScope, team: str, params: ListParams) -> dict[str, Any]:
    query = dag_list.query_from(params, team)
    return render.dag_page(ctx.queries.lists.dags(scope, query))


@router.get("/dag-tags", response_model=None, responses=responses(models.TagList, *READ))
def dag_tags(
    ctx: Ctx, scope: CallerScope, prefix: Annotated[str, Query(max_length=200)] = ""
) -> dict[str, Any]:
    """Tags of the visible DAGs starting with (then containing) `prefix`, at most 20."""
    return {"tags": ctx.queries.lists.tags(scope, prefix)}


@router.get("/dag-owners", response_model=None, responses=responses(models.OwnerList, *READ))
def dag_owners(
    ctx: Ctx, scope: CallerScope, prefix: Annotated[str, Query(max_length=200)] = ""
) -> dict[str, Any]:
    """Owners of the visible DAGs starting with (then containing) `prefix`, at most 20."""
    return {"owners": ctx.queries.lists.owners(scope, prefix)}


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
    resolved = [
        {"team": r.team, "repo": r.repo, "filename": r.filename, "resolved_in": r.code_version,
         "resolved_at": render.iso(r.at)}
        for r in ctx.queries.resolved_import_errors(scope) if team in (None, r.team)
    ]  # fmt: skip
    return {"import_errors": [render.import_error(e) for e in found], "resolved": resolved}
