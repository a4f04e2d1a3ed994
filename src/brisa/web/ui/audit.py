"""The audit page (`/audit`, UI.md A.2.13): who asked for which action, when, from where, on
what, and how it ended, newest first, filtered by the query parameters of
`GET /api/v1/audit` (control.audit)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from brisa.control.audit import ACTIONS, AuditEntry
from brisa.control.search import Found
from brisa.errors import InvalidInput
from brisa.web.ui import listview
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.templating import render

router = APIRouter(include_in_schema=False)


def target_url(entry: AuditEntry) -> str | None:
    """The page of what an entry acted on, when it has one."""
    parts = entry.target.split("/")
    if entry.action in ("sync_now",):
        return f"/repos/{quote(entry.target, safe='')}"
    if entry.action.startswith("pool_") and len(parts) == 2:
        return f"/teams/{quote(parts[0], safe='')}/pools?pool={quote(parts[1], safe='')}"
    if len(parts) < 2:
        return None
    dag = f"/teams/{quote(parts[0], safe='')}/dags/{quote(parts[1], safe='')}"
    run = (entry.detail or {}).get("run_id") if entry.action == "trigger" else None
    if len(parts) >= 3:
        run = "/".join(parts[2:])
    return f"{dag}/runs/{quote(str(run), safe='')}" if run else dag


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    params = dict(request.query_params)
    try:
        found, error = ctx.commands.audit.entries(scope, params), ""
    except InvalidInput as exc:
        found, error = Found([], None), str(exc)
    return render(
        request,
        "audit/page.html",
        status_code=400 if error else 200,
        found=found,
        error=error,
        params=params,
        path=request.url.path,
        actions=ACTIONS,
        target_url=target_url,
        with_params=listview.with_params,
    )
