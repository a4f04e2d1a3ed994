"""One Jinja2 environment (autoescape everywhere) and `render`, which every page and fragment
answers through: it passes the user's preferences, the CSRF token and the asset names, and
sets the CSRF cookie on a browser's first visit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from brisa.web.ui import live, states, timefmt
from brisa.web.ui.assets import Assets
from brisa.web.ui.prefs import Prefs, from_cookies
from brisa.web.ui.security import CSRF_COOKIE, new_token

TEMPLATES = Path(__file__).parent / "templates"


def environment(assets: Assets) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        asset=assets.url, live_event=live.live_event, glyph=states.glyph, state_words=states.words
    )
    env.filters.update(duration=timefmt.duration_text)
    return env


def prefs_of(request: Request) -> Prefs:
    return from_cookies(request.cookies)


def csrf_of(request: Request) -> tuple[str, bool]:
    """The browser's CSRF token, and whether it is new (to be set as a cookie)."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and 20 <= len(token) <= 100:
        return token, False
    return new_token(), True


def render(
    request: Request, template: str, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    env: Environment = request.app.state.ui_env
    prefs = prefs_of(request)
    token, fresh = csrf_of(request)
    now = datetime.now(UTC)
    zone = prefs.tz
    html = env.get_template(template).render(
        request=request,
        prefs=prefs,
        csrf=token,
        now=now,
        when=lambda value, **kw: timefmt.time_tag(value, zone, **kw),
        ago=lambda value: timefmt.ago_text(value, now),
        zone_label=timefmt.zone_label(zone, now),
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    if fresh:
        response.set_cookie(CSRF_COOKIE, token, samesite="strict", httponly=True, path="/")
    return response
