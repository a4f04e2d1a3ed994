"""REST: DAG sources (git repositories and the DAG folder), their sync status, and sync
requests, which forges call as webhooks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from brisa.control.queries import RepoView
from brisa.web.api import models, render
from brisa.web.api.app import ApiContext, CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, WRITE, responses

router = APIRouter(prefix="/api/v1/repos", route_class=StrictJsonRoute)


async def _body(request: Request) -> bytes:
    """The raw body, as a webhook signature covers its exact bytes (RequestGuard has
    already refused one over [api] max_body_bytes)."""
    return await request.body()


Body = Annotated[bytes, Depends(_body)]


def _render(ctx: ApiContext, view: RepoView) -> dict[str, Any]:
    return render.repo(view, scan_interval=ctx.settings.dags.scan_interval)


@router.get("", response_model=None, responses=responses(models.RepoList, *READ))
def list_repos(ctx: Ctx, scope: CallerScope) -> dict[str, Any]:
    """Every configured DAG source, in configuration order, with its sync status."""
    return {"repos": [_render(ctx, view) for view in ctx.queries.repos(scope)]}


@router.get("/{name}", response_model=None, responses=responses(models.Repo, *READ, 404))
def get_repo(ctx: Ctx, scope: CallerScope, name: str) -> Any:
    return _render(ctx, ctx.queries.repo(scope, name))


@router.post(
    "/{name}/sync",
    status_code=202,
    response_model=None,
    responses=responses(models.SyncRequested, *WRITE, 401, 404, status=202),
)
def sync(ctx: Ctx, scope: CallerScope, request: Request, name: str, body: Body) -> JSONResponse:
    """Sync a git repository now. When it has a webhook_secret, only a request signed with it
    (GitHub or GitLab style) is accepted; the body is otherwise ignored."""
    requested_at = ctx.commands.request_sync(scope, name, body, request.headers)
    answer = {"name": name, "requested": True, "requested_at": render.iso(requested_at)}
    return JSONResponse(answer, status_code=202)
