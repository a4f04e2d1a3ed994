"""The DAG page (UI.md A.2.3): header, Grid or Graph on the left, the selection's panel on the
right. The selection lives in the path: nothing (DAG details), a run
(`/runs/{run_id}`, the run page of A.2.6) or a task of a run (`/runs/{run_id}/tasks/{task}`).
The same URL opened directly renders the same split page; a click in the grid fetches only
the panel (`/_/` + the page path). The grid's live refresh is per column (`grid/col/{run}`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from brisa.control.dagview import DagViews
from brisa.control.grid import RowFilter
from brisa.control.queries import Scope
from brisa.core.states import FINISHED_RUN_STATES
from brisa.errors import InvalidInput
from brisa.web.ui import actions, graphview, gridcache, gridcells, panels
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.dagfmt import HELPERS
from brisa.web.ui.live import dag_topic, run_topic
from brisa.web.ui.templating import fragment, render

router = APIRouter(include_in_schema=False)
router.include_router(graphview.router)
router.include_router(actions.router)
DAG = "/teams/{team}/dags/{dag_id}"
VIEWS = ("grid", "graph")
MAX_TEXT = 200
VIEW = {**HELPERS, "gridcells": gridcells}  # what the DAG page's templates call


@dataclass(frozen=True)
class PageQuery:
    """The page's query string, checked: view, row filter, runs per page, graph direction."""

    view: str
    rows: RowFilter
    runs: int
    rankdir: str
    tab: str

    def keep(self, **changes: str) -> str:
        """The query string of this view with `changes` (empty values dropped)."""
        values = {
            "view": self.view if self.view != "grid" else "",
            "task": self.rows.text,
            "root": self.rows.root,
            "depth": "" if self.rows.depth is None else str(self.rows.depth),
            "dir": self.rows.dir if self.rows.root and self.rows.dir != "both" else "",
            "runs": "" if self.runs == 25 else str(self.runs),
            "rankdir": self.rankdir if self.rankdir != "LR" else "",
            **changes,
        }
        kept = {k: v for k, v in values.items() if v}
        return "?" + urlencode(kept) if kept else ""


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def page_query(request: Request) -> PageQuery:
    q = request.query_params
    view = q.get("view", "grid") or "grid"
    if view not in VIEWS:
        raise InvalidInput(f"view must be grid or graph, not {view!r}")
    depth = q.get("depth", "")
    rows = RowFilter(
        text=q.get("task", "")[:MAX_TEXT],
        root=q.get("root", "")[:MAX_TEXT],
        depth=_number(depth, "depth", 0, 50) if depth else None,
        dir=q.get("dir", "both") or "both",  # type: ignore[arg-type]
    )
    runs = _number(q.get("runs", "25"), "runs", 1, 100)
    rankdir = q.get("rankdir", "LR") or "LR"
    if rankdir not in ("LR", "TB"):
        raise InvalidInput(f"rankdir must be LR or TB, not {rankdir!r}")
    tab = q.get("tab", "overview") or "overview"
    if tab not in panels.RUN_TABS:
        raise InvalidInput(f"tab must be one of {', '.join(panels.RUN_TABS)}, not {tab!r}")
    return PageQuery(view, rows, runs, rankdir, tab)


def _live_runs(grid_runs: list[Any]) -> list[int]:
    return [c.run.id for c in grid_runs if c.run.state not in FINISHED_RUN_STATES]


def _page(
    request: Request,
    views: DagViews,
    scope: Scope,
    team: str,
    dag_id: str,
    panel: dict[str, Any],
) -> HTMLResponse:
    query = page_query(request)
    base = DAG.format(team=team, dag_id=dag_id)
    kept = gridcache.lookup(request, base, query.keep())
    dag = views.page(scope, team, dag_id)
    grid = views.grid(scope, team, dag_id, query.rows, runs=query.runs, held=kept.held)
    topics = [dag_topic(team, dag_id), *(run_topic(pk) for pk in _live_runs(grid.columns))]
    if "run" in panel:
        topics.append(run_topic(panel["run"].id))
    return render(
        request,
        "dag/page.html",
        **VIEW,
        topics=sorted(set(topics)),
        dag=dag,
        grid=grid,
        kept=kept,
        query=query,
        base=base,
        team=team,
        dag_id=dag_id,
        live_runs=_live_runs(grid.columns),
        panel=panel,
    )


@router.get(DAG, response_class=HTMLResponse)
def dag_page(request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str) -> Response:
    views = ctx.queries.dag_views()
    return _page(request, views, scope, team, dag_id, panels.dag_panel(views, scope, team, dag_id))


@router.get(DAG + "/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str
) -> Response:
    views = ctx.queries.dag_views()
    panel = panels.run_panel(request, ctx.queries.history, views, scope, team, dag_id, run_id)
    return _page(request, views, scope, team, dag_id, panel)


@router.get(DAG + "/runs/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
def task_page(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
) -> Response:
    views = ctx.queries.dag_views()
    panel = panels.task_panel(ctx, views, scope, team, dag_id, run_id, task_id)
    return _page(request, views, scope, team, dag_id, panel)


# Fragments


@router.get("/_" + DAG + "/grid", response_class=HTMLResponse)
def grid_fragment(request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str) -> Response:
    """The whole grid: re-fetched when the DAG has a new run (topic `dag:`)."""
    query = page_query(request)
    base = DAG.format(team=team, dag_id=dag_id)
    kept = gridcache.lookup(request, base, query.keep())
    views = ctx.queries.dag_views()
    view = views.grid_view(scope, team, dag_id, query.rows, runs=query.runs, held=kept.held)
    grid = view.grid
    return fragment(
        request,
        "dag/grid.html",
        **VIEW,
        grid=grid,
        kept=kept,
        dag=view,
        query=query,
        base=base,
        team=team,
        dag_id=dag_id,
        live_runs=_live_runs(grid.columns),
    )


@router.get("/_" + DAG + "/grid/col/{run_id}", response_class=HTMLResponse)
def grid_column(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str
) -> Response:
    """One run's cells, swapped out of band by id; a finished run's column carries no trigger,
    so it stops refreshing."""
    query = page_query(request)
    column = ctx.queries.dag_views().column(scope, team, dag_id, run_id, query.rows)
    return fragment(
        request,
        "dag/column.html",
        **VIEW,
        column=column,
        query=query,
        base=DAG.format(team=team, dag_id=dag_id),
        team=team,
        dag_id=dag_id,
    )


def _panel(request: Request, panel: dict[str, Any], team: str, dag_id: str) -> Response:
    """The panel alone (a grid click, a live refresh), under the version/204 contract."""
    base = DAG.format(team=team, dag_id=dag_id)
    values = {"panel": panel, "query": page_query(request), "base": base}
    return fragment(request, "dag/panel.html", **VIEW, **values, team=team, dag_id=dag_id)


@router.get("/_" + DAG, response_class=HTMLResponse)
def dag_panel_fragment(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str
) -> Response:
    panel = panels.dag_panel(ctx.queries.dag_views(), scope, team, dag_id)
    return _panel(request, panel, team, dag_id)


@router.get("/_" + DAG + "/runs/{run_id}", response_class=HTMLResponse)
def run_panel_fragment(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str
) -> Response:
    views = ctx.queries.dag_views()
    panel = panels.run_panel(request, ctx.queries.history, views, scope, team, dag_id, run_id)
    return _panel(request, panel, team, dag_id)


@router.get("/_" + DAG + "/runs/{run_id}/tasks/{task_id}", response_class=HTMLResponse)
def task_panel_fragment(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
) -> Response:
    views = ctx.queries.dag_views()
    panel = panels.task_panel(ctx, views, scope, team, dag_id, run_id, task_id)
    return _panel(request, panel, team, dag_id)


@router.post("/_" + DAG + "/pause")
async def pause(request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str) -> Response:
    """Pause or unpause (form field `paused`); the page reloads to show it."""
    paused = (await request.form()).get("paused", "")
    if paused not in ("true", "false"):
        raise InvalidInput(f"paused must be true or false, not {paused!r}")
    await run_in_threadpool(ctx.commands.pause, scope, team, dag_id, paused == "true")
    return Response(status_code=204, headers={"HX-Refresh": "true"})
