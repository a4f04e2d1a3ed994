"""REST: DAG sources (git repositories and the DAG folder), their sync status, and sync
requests, which forges call as webhooks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from brisa.api import render
from brisa.api.app import ApiContext, context
from brisa.core import webhooks
from brisa.core.records import RepoStatusRecord
from brisa.errors import InvalidInput, NotFound
from brisa.repos.config import RepoSettings

MAX_BODY = 1 << 20  # a push event is a few KiB; refuse to buffer more than this

router = APIRouter(prefix="/api/v1/repos")
Ctx = Annotated[ApiContext, Depends(context)]


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


def _source(ctx: ApiContext, name: str) -> RepoSettings:
    source = ctx.settings.source(name)
    if source is None:
        known = ", ".join(s.name for s in ctx.settings.sources()) or "none"
        raise NotFound(
            f"no repository {name!r} is configured (configured: {known}); "
            f"a [repos.{name}] table in the config file adds it"
        )
    return source


def _status(ctx: ApiContext, name: str) -> RepoStatusRecord | None:
    try:
        return ctx.store.get_repo(name)
    except NotFound:  # configured, not synced yet
        return None


def _render(ctx: ApiContext, source: RepoSettings, status: RepoStatusRecord | None) -> Any:
    return render.repo(source, status, scan_interval=ctx.settings.dags.scan_interval)


@router.get("")
def list_repos(ctx: Ctx) -> dict[str, Any]:
    """Every configured DAG source, in configuration order, with its sync status."""
    statuses = {status.name: status for status in ctx.store.list_repos()}
    return {"repos": [_render(ctx, s, statuses.get(s.name)) for s in ctx.settings.sources()]}


@router.get("/{name}")
def get_repo(ctx: Ctx, name: str) -> Any:
    return _render(ctx, _source(ctx, name), _status(ctx, name))


@router.post("/{name}/sync", status_code=202)
def sync(ctx: Ctx, request: Request, name: str, body: Body) -> JSONResponse:
    """Sync a git repository now. When it has a webhook_secret, only a request signed with it
    (GitHub or GitLab style) is accepted; the body is otherwise ignored."""
    source = _source(ctx, name)
    if not source.is_git:
        raise InvalidInput(
            f"repository {name} is a folder; nothing to sync (its files are read again every "
            "[dags] scan_interval)"
        )
    if source.webhook_secret:
        webhooks.verify(source.webhook_secret, body, request.headers)
    requested_at = ctx.clock()
    ctx.request_sync(name)
    answer = {"name": name, "requested": True, "requested_at": render.iso(requested_at)}
    return JSONResponse(answer, status_code=202)
