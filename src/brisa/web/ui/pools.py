"""Pools (`/pools`, every team's; `/teams/{team}/pools`, one team's): each pool's slots, what
is in use (queued, running), how many tasks wait for a slot, and the tasks waiting in pools
that do not exist. The table refreshes live (topic `health`: every task move)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from brisa.web.api.app import ApiContext
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.listview import segment
from brisa.web.ui.templating import fragment, render

router = APIRouter(include_in_schema=False)


def _teams(ctx: ApiContext, scope: Any, team: str | None) -> list[dict[str, Any]]:
    pools = ctx.queries.pools
    names = [team] if team is not None else pools.teams(scope)
    return [
        {"team": name, "pools": pools.list(scope, name), "missing": pools.missing(scope, name)}
        for name in names
    ]


def _detail(ctx: ApiContext, scope: Any, team: str | None, name: str) -> Any:
    if team is None or not name:
        return None
    return ctx.queries.pools.get(scope, team, name)


def _page(request: Request, ctx: ApiContext, scope: Any, team: str | None, pool: str) -> Any:
    return render(
        request,
        "pools/pools.html",
        topics=["health"],
        team=team,
        teams=_teams(ctx, scope, team),
        detail=_detail(ctx, scope, team, pool),
        seg=segment,
    )


@router.get("/pools", response_class=HTMLResponse)
def all_pools(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    result: HTMLResponse = _page(request, ctx, scope, None, "")
    return result


@router.get("/teams/{team}/pools", response_class=HTMLResponse)
def team_pools(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, pool: str = ""
) -> HTMLResponse:
    """One team's pools; `?pool=NAME` also lists who holds its slots and who waits."""
    result: HTMLResponse = _page(request, ctx, scope, team, pool[:100])
    return result


@router.get("/_/pools/table", response_class=HTMLResponse)
def pools_table(
    request: Request, ctx: UiCtx, scope: UiScope, team: str = "", pool: str = ""
) -> Response:
    """The pools tables, refreshed live."""
    chosen = team or None
    return fragment(
        request,
        "pools/table.html",
        team=chosen,
        teams=_teams(ctx, scope, chosen),
        detail=_detail(ctx, scope, chosen, pool[:100]),
        seg=segment,
    )
