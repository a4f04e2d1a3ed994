"""The Overview (`/`): is the platform healthy, and what needs me now? What the system records
of its components, each repository's last sync, the last 24 hours' counts for the visible
teams (each a link to the list it counts), the import errors and the DAGs this browser
starred with their last runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from brisa.control.dag_list import DagQuery, DagRow
from brisa.control.lists import dag_url
from brisa.control.queries import Scope
from brisa.web.api.app import ApiContext
from brisa.web.ui import favourites
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.listview import bars_html, segment
from brisa.web.ui.templating import fragment, render

router = APIRouter(include_in_schema=False)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    dags = ctx.queries.dags(scope)
    return render(
        request,
        "overview.html",
        topics=["health", "import-errors"],
        database=ctx.queries.database(),
        dags=dags,
        paused=sum(1 for d in dags if d.record.is_paused),
        import_errors=ctx.queries.import_errors(scope),
        repos=ctx.queries.repos(scope),
        activity=ctx.queries.lists.activity(scope),
        iso=_iso,
        seg=segment,
        run_counts=_run_counts(ctx, scope),
        favourite_rows=_favourites(request, ctx, scope),
        dag_url=dag_url,
        bars=lambda runs, url: bars_html(runs, url, datetime.now(UTC)),
    )


FAVOURITE_RUNS = 10  # runs shown per favourite DAG


def _favourites(request: Request, ctx: ApiContext, scope: Scope) -> list[DagRow]:
    """The DAGs this browser starred that the caller sees, each with its last runs (the DAG
    list's read: a fixed number of statements, however many are starred)."""
    keys = frozenset(favourites.from_cookies(request.cookies))
    if not keys:
        return []
    query = DagQuery(favourite=True, starred=keys, limit=favourites.MAX_FAVOURITES)
    rows = ctx.queries.lists.dags(scope, query).rows
    return [replace(r, recent=r.recent[-FAVOURITE_RUNS:]) for r in rows]


def _run_counts(ctx: ApiContext, scope: Scope) -> Counter[str]:
    return ctx.summary.run_counts(scope) if ctx.summary else Counter()


@router.get("/_/overview/runs", response_class=HTMLResponse)
def overview_runs(request: Request, ctx: UiCtx, scope: UiScope) -> Response:
    """The Overview's run counts, refreshed live (topic `health`)."""
    return fragment(request, "overview/runs.html", run_counts=_run_counts(ctx, scope))
