"""The effective configuration page (`/config`, UI.md A.2.13): one row per key with its value
(secrets masked), its source and whether workers receive it, as `GET /api/v1/config`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from brisa.control.config import effective
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/config", response_class=HTMLResponse)
def config_page(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    entries = effective(ctx.settings)
    return render(
        request,
        "config/page.html",
        entries=entries,
        overridden=sum(1 for e in entries if e.source != "default"),
    )
