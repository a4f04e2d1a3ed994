"""The frame's own pages: Overview (`/`) and Settings (`/settings`). The other pages live in
one module per area, each a router included by `web.ui.app`."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from brisa.control.queries import Scope
from brisa.web.api.app import ApiContext
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.prefs import THEME_COOKIE, THEMES, TZ_COOKIE, YEAR, zone_or_none
from brisa.web.ui.templating import fragment, prefs_of, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ctx: UiCtx, scope: UiScope) -> HTMLResponse:
    dags = ctx.queries.dags(scope)
    return render(
        request,
        "overview.html",
        database=ctx.queries.database(),
        dags=dags,
        paused=sum(1 for d in dags if d.record.is_paused),
        import_errors=ctx.queries.import_errors(scope),
        repos=ctx.queries.repos(scope),
        run_counts=_run_counts(ctx, scope),
        topics=["health"],
    )


def _run_counts(ctx: ApiContext, scope: Scope) -> Counter[str]:
    return ctx.summary.run_counts(scope) if ctx.summary else Counter()


@router.get("/_/overview/runs", response_class=HTMLResponse)
def overview_runs(request: Request, ctx: UiCtx, scope: UiScope) -> Response:
    """The Overview's run counts, refreshed live (topic `health`)."""
    return fragment(request, "overview/runs.html", run_counts=_run_counts(ctx, scope))


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request) -> HTMLResponse:
    return render(request, "settings.html", themes=THEMES, saved=False, error="")


@router.post("/_/settings", response_class=HTMLResponse)
def save_settings(
    request: Request,
    tz: Annotated[str, Form(max_length=64)] = "",
    theme: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Display preferences, kept in cookies so the server renders them on first paint."""
    zone = zone_or_none(tz.strip()) if tz else prefs_of(request).tz_name
    if zone is None:
        return render(
            request,
            "settings.html",
            status_code=400,
            themes=THEMES,
            saved=False,
            error=f"{tz!r} is not a time zone this server knows; use an IANA name such as "
            "Europe/Lisbon or UTC",
        )
    chosen = theme if theme in THEMES else prefs_of(request).theme
    response = render(request, "settings.html", themes=THEMES, saved=True, error="")
    response.set_cookie(TZ_COOKIE, zone, max_age=YEAR, samesite="lax", path="/")
    response.set_cookie(THEME_COOKIE, chosen, max_age=YEAR, samesite="lax", path="/")
    response.headers["HX-Refresh"] = "true"  # every time on the page is now in the new zone
    return response
