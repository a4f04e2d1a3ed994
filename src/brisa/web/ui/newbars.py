"""The "N new — show" bars of the DAG list and the runs list (UI.md A.2.2 and A.2.9 Refresh):
a list does not reshuffle under the cursor; when a DAG or a run that the list's filters would
show appears, a bar says how many and links to the list read again. A bar is a live fragment
(version/204) re-fetched when the page's stream reports the list's topic (`dags:<team>`,
`runs:<team>`; web/ui/live.py), and on the slow tick of the polling fallback only, so it has
no polling loop of its own and makes no request while the page is hidden (live.js)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from brisa.control import dag_list, search
from brisa.errors import InvalidInput
from brisa.web.ui import listview
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.live import new_dags_topics, new_runs_topics
from brisa.web.ui.templating import fragment

router = APIRouter(include_in_schema=False)
DAGS_BAR = "/_/dags/new"
RUNS_BAR = "/_/runs/new"
# What a bar's own URL carries besides the list's filters; never passed on to the list.
OWN = ("known", "newest", "list", "v")


def _int(value: str) -> int:
    try:
        return max(0, int(value[:18]))
    except ValueError:
        return 0


def _filters(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in OWN and k != "after"}


def dags_bar(path: str, team: str | None, scope_teams: Any, params: dict[str, str],
             total: int) -> dict[str, Any]:  # fmt: skip
    """The values the DAG list's template gives its bar: its URL (the list's filters, the
    count it shows) and the topics it follows."""
    own = {**_filters(params), "known": str(total), "list": path}
    topics = new_dags_topics(scope_teams, team)
    return {"url": listview.with_params(DAGS_BAR, own), "topics": topics}


def runs_bar(scope_teams: Any, params: dict[str, str], newest: int) -> dict[str, Any]:
    """As `dags_bar` for the runs list: `newest` is the newest run (id) it shows."""
    own = {**_filters(params), "newest": str(newest)}
    try:  # the teams the list searches (the one asked for, else every visible one)
        teams = search.run_filter(params, scope_teams).teams
    except InvalidInput:
        teams = scope_teams
    return {"url": listview.with_params(RUNS_BAR, own), "topics": new_runs_topics(teams)}


@router.get(DAGS_BAR)
def new_dags(request: Request, ctx: UiCtx, scope: UiScope) -> Response:
    params = dict(request.query_params)
    path = params.get("list", "/dags")
    team = path.split("/")[2] if path.startswith("/teams/") and path.count("/") == 3 else None
    if path != "/dags" and team is None:
        raise InvalidInput("list must be /dags or /teams/<team>/dags")
    known = _int(params.get("known", ""))
    try:
        query = dag_list.query_from(_filters(params), team)
    except InvalidInput:
        query = dag_list.query_from({}, team)
    if team is not None:
        scope.require(team, f"no team {team!r}")
    total = ctx.queries.lists.dag_count(scope, query)
    bar = dags_bar(path, team, scope.teams, params, known)
    show = listview.with_params(path, _filters(params))
    return fragment(request, "lists/new_bar.html", bar=bar, new=max(0, total - known),
                    noun=("DAG", "DAGs"), show=show, capped=False)  # fmt: skip


@router.get(RUNS_BAR)
def new_runs(request: Request, ctx: UiCtx, scope: UiScope) -> Response:
    params = dict(request.query_params)
    newest = _int(params.get("newest", ""))
    filters = _filters(params)
    try:
        found = ctx.queries.lists.runs(scope, filters)
        new = sum(1 for run in found.items if run.id > newest)
        capped = found.next_cursor is not None and new == len(found.items)
    except InvalidInput:
        new, capped = 0, False
    bar = runs_bar(scope.teams, params, newest)
    show = listview.with_params("/runs", filters)
    return fragment(request, "lists/new_bar.html", bar=bar, new=new, noun=("run", "runs"),
                    show=show, capped=capped)  # fmt: skip
