"""Where DAGs come from: import errors (`/import-errors`) and repositories (`/repos`,
`/repos/{name}`) with "Sync now", whose progress shows inline until the sync has run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from brisa.control.queries import RepoView
from brisa.repos.git import redact
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.listview import segment
from brisa.web.ui.live import repo_topic
from brisa.web.ui.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/import-errors", response_class=HTMLResponse)
def import_errors_page(
    request: Request, ctx: UiCtx, scope: UiScope, team: str = "", repo: str = "", q: str = ""
) -> HTMLResponse:
    found = ctx.queries.lists.import_errors(scope, team=team, repo=repo, q=q[:200])
    activity = ctx.queries.lists.activity(scope)
    resolved = [
        r
        for r in ctx.queries.resolved_import_errors(scope)
        if team in ("", r.team) and repo in ("", r.repo) and q[:200].lower() in r.filename.lower()
    ]
    return render(
        request,
        "sources/import_errors.html",
        topics=["import-errors"],
        errors=found,
        resolved=resolved,
        filters={k: v for k, v in (("team", team), ("repo", repo), ("q", q)) if v},
        last_parse=activity.last_parse,
        repos=[v.source.name for v in ctx.queries.repos(scope)],
        seg=segment,
    )


def _repo_values(ctx: Any, view: RepoView) -> dict[str, Any]:
    source = view.source
    return {
        "view": view,
        "url": redact(source.url) if source.is_git else source.path,
        "next_sync": _next_sync(view, ctx.settings.dags.scan_interval),
    }


def _next_sync(view: RepoView, scan_interval: float) -> datetime | None:
    from datetime import timedelta

    status = view.status
    if status is None or status.last_sync_at is None:
        return None
    period = view.source.period if view.source.is_git else scan_interval
    return status.last_sync_at + timedelta(seconds=period)


@router.get("/repos", response_class=HTMLResponse)
def repos_page(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    views = ctx.queries.repos(scope)
    return render(
        request,
        "sources/repos.html",
        topics=[repo_topic(v.source.name) for v in views],
        repos=[_repo_values(ctx, v) for v in views],
        counts=ctx.queries.lists.repo_counts(scope),
        seg=segment,
    )


@router.get("/repos/{name}", response_class=HTMLResponse)
def repo_page(request: Request, ctx: UiCtx, scope: UiScope, name: str) -> HTMLResponse:
    view = ctx.queries.repo(scope, name)
    errors = ctx.queries.lists.import_errors(scope, repo=name)
    return render(
        request,
        "sources/repo.html",
        topics=[repo_topic(name)],
        counts=ctx.queries.lists.repo_counts(scope).get(name, (0, 0)),
        errors=errors,
        requested_at=None,
        seg=segment,
        commits=ctx.queries.repo_commits(scope, name),
        **_repo_values(ctx, view),
    )


@router.post("/_/repos/{name}/sync", response_class=HTMLResponse)
def sync_now(request: Request, ctx: UiCtx, scope: UiScope, name: str) -> HTMLResponse:
    """Ask for a sync; the answer shows its progress and polls until the sync has run."""
    requested_at = ctx.commands.request_sync(scope, name, b"", {})
    view = ctx.queries.repo(scope, name)
    return _status(request, ctx, scope, view, requested_at)


@router.get("/_/repos/{name}/sync-status", response_class=HTMLResponse)
def sync_status(
    request: Request, ctx: UiCtx, scope: UiScope, name: str, since: str = ""
) -> HTMLResponse:
    view = ctx.queries.repo(scope, name)
    try:
        requested_at = datetime.fromisoformat(since) if since else None
    except ValueError:
        requested_at = None
    if requested_at is not None and requested_at.tzinfo is None:
        requested_at = requested_at.replace(tzinfo=UTC)
    return _status(request, ctx, scope, view, requested_at)


def _status(
    request: Request, ctx: Any, scope: Any, view: RepoView, requested_at: datetime | None
) -> HTMLResponse:
    """The sync's progress; done once the sync ran and the commit it published (if any) is
    parsed (`Queries.sync_settled`), when the answer also replaces the commit rows and the
    repository's facts (out of band: the current commit then agrees with the rows)."""
    name = view.source.name
    commits = ctx.queries.repo_commits(scope, name) if requested_at is not None else []
    synced = requested_at is None or ctx.queries.sync_settled(view, commits, requested_at)
    return render(
        request,
        "sources/sync_status.html",
        requested_at=requested_at,
        done=synced,
        commits=commits,
        counts=ctx.queries.lists.repo_counts(scope).get(name, (0, 0)),
        seg=segment,
        **_repo_values(ctx, view),
    )
