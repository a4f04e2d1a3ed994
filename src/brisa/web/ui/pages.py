"""The frame's own page: Settings (`/settings`). The other pages, the Overview (`web.ui.overview`)
included, live in one module per area, each a router included by `web.ui.app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from brisa.web.ui.prefs import THEME_COOKIE, THEMES, TZ_COOKIE, YEAR, zone_or_none
from brisa.web.ui.templating import prefs_of, render

router = APIRouter(include_in_schema=False)


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
