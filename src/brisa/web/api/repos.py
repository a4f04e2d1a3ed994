"""REST: DAG sources (git repositories and the DAG folder), their sync status, and sync
requests, which forges call as webhooks."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from brisa.control.queries import CommitParse, RepoView
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


class CommitParseEntry(models.Model):
    """What parsing one commit did."""

    code_version: str
    parsed_at: datetime
    files_parsed: int = Field(description="DAG files parsed for this commit")
    added: list[str] = Field(description="DAG ids that appeared")
    changed: list[str] = Field(description="DAG ids whose structure changed")
    removed: list[str] = Field(description="DAG ids that went")
    errors: list[dict[str, Any]] = Field(description="files failing: file, lineno, message")
    resolved: list[str] = Field(description="files whose import error this commit resolved")


class RepoDetail(models.Repo):
    commits: list[CommitParseEntry] = Field(
        description="the newest parsed commits (at most 20), newest first; git only"
    )


def commit_parse(parse: CommitParse) -> dict[str, Any]:
    return {**dataclasses.asdict(parse), "parsed_at": render.iso(parse.parsed_at)}


@router.get("/{name}", response_model=None, responses=responses(RepoDetail, *READ, 404))
def get_repo(ctx: Ctx, scope: CallerScope, name: str) -> Any:
    """A DAG source with its sync status and its recent commits' parse outcome."""
    commits = [
        {k: v for k, v in commit_parse(p).items() if k not in ("repo", "team")}
        for p in ctx.queries.repo_commits(scope, name)
    ]
    return {**_render(ctx, ctx.queries.repo(scope, name)), "commits": commits}


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
