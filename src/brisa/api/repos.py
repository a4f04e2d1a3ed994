"""REST: DAG sources (git repositories and the DAG folder), their sync status, and sync
requests, which forges call as webhooks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from brisa.api import render
from brisa.api.app import ApiContext, CallerScope, Ctx
from brisa.control.queries import RepoView

MAX_BODY = 1 << 20  # a push event is a few KiB; refuse to buffer more than this

router = APIRouter(prefix="/api/v1/repos")


def _too_large() -> HTTPException:
    return HTTPException(413, f"request body over {MAX_BODY} bytes; a sync request needs none")


async def _body(request: Request) -> bytes:
    """The raw body (a webhook signature covers its exact bytes), at most MAX_BODY bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise _too_large()
    return bytes(body)


Body = Annotated[bytes, Depends(_body)]


def _render(ctx: ApiContext, view: RepoView) -> dict[str, Any]:
    return render.repo(view, scan_interval=ctx.settings.dags.scan_interval)


@router.get("")
def list_repos(ctx: Ctx, scope: CallerScope) -> dict[str, Any]:
    """Every configured DAG source, in configuration order, with its sync status."""
    return {"repos": [_render(ctx, view) for view in ctx.queries.repos(scope)]}


@router.get("/{name}")
def get_repo(ctx: Ctx, scope: CallerScope, name: str) -> Any:
    return _render(ctx, ctx.queries.repo(scope, name))


@router.post("/{name}/sync", status_code=202)
def sync(ctx: Ctx, scope: CallerScope, request: Request, name: str, body: Body) -> JSONResponse:
    """Sync a git repository now. When it has a webhook_secret, only a request signed with it
    (GitHub or GitLab style) is accepted; the body is otherwise ignored."""
    requested_at = ctx.commands.request_sync(scope, name, body, request.headers)
    answer = {"name": name, "requested": True, "requested_at": render.iso(requested_at)}
    return JSONResponse(answer, status_code=202)
