"""The list pages across DAGs: DAGs (`/dags`, `/teams/{team}/dags`) with their row fragments,
tag typeahead and pause toggle; runs (`/runs`); task instances (`/task-instances`); and the jump
box's resolver (`/jump`). Each reads through `Queries.lists`, as the REST API does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from brisa.control import dag_list, search
from brisa.control.lists import RunBrief, dag_url, run_url
from brisa.errors import InvalidInput
from brisa.web.ui import favourites, listview, newbars, timefmt
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.live import dag_topic, run_topic
from brisa.web.ui.states import TERMINAL
from brisa.web.ui.templating import fragment, render

router = APIRouter(include_in_schema=False)


def _helpers() -> dict[str, Any]:
    """What the list templates call besides the frame's globals."""
    return {
        "dag_url": dag_url,
        "run_url": run_url,
        "row_id": lambda row: listview.element_id(
            "dag", row.summary.record.team, row.summary.record.dag_id
        ),
        "schedule_words": listview.schedule_words,
        "bars": _bars,
        "with_params": listview.with_params,
        "seg": listview.segment,
        "dag_topic": dag_topic,
        "run_topic": run_topic,
        "terminal": TERMINAL,
        "local_text": timefmt.local_text,
        "iso": lambda value: value.isoformat().replace("+00:00", "Z"),
        "tags_html": listview.tags_html,
        "last_cell": _last_cell,
        "next_cell": listview.next_run_cell,
        "owner_href": lambda owner: f"/dags?owner={quote(owner, safe='')}",
        "star": favourites.star_html,
        "star_url": favourites.star_url,
    }


def _last_cell(run: RunBrief | None, zone: ZoneInfo) -> Markup:
    at = (run.start_date or run.logical_date) if run is not None else None
    return listview.last_run_cell(run, at, run_url(run) if run is not None else "", zone)


def _bars(runs: list[RunBrief], dag_url: str) -> Markup:
    return listview.bars_html(runs, dag_url, datetime.now(UTC))


def _tab_of(query: dag_list.DagQuery) -> str:
    if query.favourite:
        return "favourites" if query.paused is None and not query.state else ""
    if query.paused is True and not query.state:
        return "paused"
    if query.paused is None and query.state in ("running", "failed"):
        return query.state
    return "all" if query.paused is None and not query.state else ""


def _dag_list(request: Request, ctx: UiCtx, scope: UiScope, team: str | None) -> HTMLResponse:
    params = dict(request.query_params)
    path = request.url.path
    if team is not None:
        scope.require(team, f"no team {team!r}; the DAG list shows the teams there are")
    try:
        query = dag_list.query_from(params, team)
    except InvalidInput as exc:
        return _bad_filter(request, path, str(exc))
    query = replace(query, starred=frozenset(favourites.from_cookies(request.cookies)))
    page = ctx.queries.lists.dags(scope, query)
    repos = [v for v in ctx.queries.repos(scope) if team in (None, v.source.owner)]
    bar = newbars.dags_bar(path, team, scope.teams, params, page.total)
    topics = [dag_topic(r.summary.record.team, r.summary.record.dag_id) for r in page.rows]
    topics += bar["topics"]
    response = render(
        request,
        "lists/dags.html",
        topics=topics,
        team=team,
        page=page,
        query=query,
        params=params,
        path=path,
        tab=_tab_of(query),
        repos=repos,
        bar=bar,
        **_helpers(),
    )
    if request.headers.get("hx-request"):  # filtering while typing: a clean address
        shown = {k: v for k, v in params.items() if (k, v) != ("sort", "name")}
        response.headers["HX-Replace-Url"] = listview.with_params(path, shown)
    return response


def _bad_filter(request: Request, path: str, message: str) -> HTMLResponse:
    return render(request, "lists/bad_filter.html", status_code=400, message=message, path=path)


@router.get("/dags", response_class=HTMLResponse)
def dags_page(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    return _dag_list(request, ctx, scope, None)


@router.get("/teams/{team}/dags", response_class=HTMLResponse)
def team_dags_page(request: Request, ctx: UiCtx, scope: UiScope, team: str) -> HTMLResponse:
    return _dag_list(request, ctx, scope, team)


@router.get("/_/dags/row/{team}/{dag_id}")
def dag_row(request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str) -> Response:
    """One row of the DAG list, re-fetched when its `dag:` topic changes (version/204)."""
    row = ctx.queries.lists.dag_row(scope, team, dag_id)
    return fragment(request, "lists/dag_row.html", row=row, **_helpers())


@router.get("/_/dags/tags", response_class=HTMLResponse)
def tag_options(request: Request, ctx: UiCtx, scope: UiScope, tag: str = "") -> HTMLResponse:
    """The tag typeahead's options (a `<datalist>`'s content), matching what was typed."""
    tags = ctx.queries.lists.tags(scope, tag[:200])
    return render(request, "lists/tag_options.html", tags=tags)


@router.get("/_/dags/owners", response_class=HTMLResponse)
def owner_options(request: Request, ctx: UiCtx, scope: UiScope, owner: str = "") -> HTMLResponse:
    """The owner typeahead's options (a `<datalist>`'s content), matching what was typed."""
    owners = ctx.queries.lists.owners(scope, owner[:200])
    return render(request, "lists/tag_options.html", tags=owners)


@router.post("/_/dags/star/{team}/{dag_id}", response_class=HTMLResponse)
def star(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    starred: Annotated[str, Form(max_length=5)],
    undo: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse:
    """Star or unstar a DAG in this browser's favourites cookie, without asking; the answer
    is the new star (swapped in by id) and an Undo toast."""
    if starred not in ("true", "false"):
        raise InvalidInput(f"starred must be true or false, not {starred!r}")
    wanted = starred == "true"
    ctx.queries.lists.dag_row(scope, team, dag_id)  # NotFound for a DAG the caller cannot see
    keys = favourites.toggle(favourites.from_cookies(request.cookies), (team, dag_id), wanted)
    response = render(
        request,
        "lists/starred.html",
        team=team,
        dag_id=dag_id,
        on=wanted,
        toast=not undo,
        starred=frozenset(keys),
        **_helpers(),
    )
    response.set_cookie(
        favourites.FAV_COOKIE,
        favourites.encode(keys),
        max_age=favourites.YEAR,
        samesite="lax",
        path="/",
    )
    return response


@router.post("/_/dags/pause/{team}/{dag_id}", response_class=HTMLResponse)
def pause(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    paused: Annotated[str, Form(max_length=5)],
    undo: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse:
    """Pause or unpause without asking; the answer is the new row and an Undo toast."""
    wanted = dag_list.parse_paused(paused)
    if wanted is None:
        raise InvalidInput("paused must be true or false")
    ctx.commands.pause(scope, team, dag_id, wanted)
    row = ctx.queries.lists.dag_row(scope, team, dag_id)
    return render(request, "lists/paused.html", row=row, toast=not undo, **_helpers())


def _search_page(
    request: Request, template: str, found: Any, error: str, **values: Any
) -> HTMLResponse:
    params = dict(request.query_params)
    return render(
        request,
        template,
        status_code=400 if error else 200,
        found=found,
        error=error,
        params=params,
        path=request.url.path,
        **values,
        **_helpers(),
    )


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    try:
        found, error = ctx.queries.lists.runs(scope, dict(request.query_params)), ""
    except InvalidInput as exc:
        found, error = search.Found([], None), str(exc)
    live = [run_topic(r.id) for r in found.items if r.state not in TERMINAL]
    newest = max((r.id for r in found.items), default=0)
    bar = newbars.runs_bar(scope.teams, dict(request.query_params), newest)
    return _search_page(
        request,
        "lists/runs.html",
        found,
        error,
        topics=live + bar["topics"],
        bar=bar,
        run_states=search.RUN_STATES,
        run_types=search.RUN_TYPES,
    )


@router.get("/_/runs/row/{team}/{dag_id}/{run_id}")
def run_row(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str
) -> Response:
    """One row of the runs list, re-fetched when its run's topic changes (version/204); a
    finished run's row comes back without its trigger, so it stops; a ticked box stays
    ticked."""
    run = ctx.queries.lists.run_row(scope, team, dag_id, run_id)
    picked = "picked" in request.query_params  # its box was ticked: it stays ticked
    return fragment(request, "lists/run_row.html", run=run, picked=picked, **_helpers())


@router.get("/task-instances", response_class=HTMLResponse)
def task_instances_page(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    try:
        found, error = ctx.queries.lists.tasks(scope, dict(request.query_params)), ""
    except InvalidInput as exc:
        found, error = search.Found([], None), str(exc)
    return _search_page(
        request, "lists/task_instances.html", found, error, task_states=search.TASK_STATES
    )


@router.get("/jump")
def jump(ctx: UiCtx, scope: UiScope, q: str = "") -> RedirectResponse:
    """The jump box: a DAG (`team/dag` or a DAG id), a run id, else the DAGs matching it."""
    return RedirectResponse(ctx.queries.lists.jump(scope, q[:500]), status_code=303)
