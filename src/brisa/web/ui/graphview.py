"""The graph view's data (UI.md A.2.5): the structure of the DAG at a commit, as JSON that never
changes for that commit (ETag = structure hash, cached `immutable`), and the state overlay of
one run (task -> state, try, duration), re-fetched while the run goes on."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from brisa.web.ui import timefmt
from brisa.web.ui.access import UiCtx, UiScope

router = APIRouter(include_in_schema=False)
DAG = "/_/teams/{team}/dags/{dag_id}"
IMMUTABLE = "private, max-age=31536000, immutable"


@router.get(DAG + "/graph/structure")
def graph_structure(
    request: Request, ctx: UiCtx, scope: UiScope, team: str, dag_id: str, commit: str = ""
) -> Response:
    """Nodes and edges of the DAG at `commit` (its current version when empty)."""
    found = ctx.queries.dag_views().structure(scope, team, dag_id, commit[:64])
    etag = f'"{found["hash"]}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"etag": etag})
    cache = IMMUTABLE if commit else "no-cache"  # the current version moves; a commit never does
    return JSONResponse(found, headers={"etag": etag, "cache-control": cache})


@router.get(DAG + "/graph/overlay")
def graph_overlay(ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run: str) -> Response:
    """Each task's state in one run, and whether the run is over (no more refreshes)."""
    view = ctx.queries.dag_views().run(scope, team, dag_id, run[:250])
    now = datetime.now(UTC)
    tasks = {
        tid: {
            "state": ti.state.value,
            "try": ti.try_number,
            "duration": timefmt.duration_text(timefmt.between(ti.start_date, ti.end_date, now))
            if ti.start_date
            else "",
        }
        for tid, ti in view.run.tasks.items()
    }
    done = view.run.state.value in ("success", "failed", "cancelled")
    return JSONResponse({"run_id": view.run.run_id, "finished": done, "tasks": tasks},
                        headers={"cache-control": "no-store"})  # fmt: skip
