"""One Jinja2 environment (autoescape everywhere) and `render`, which every page and fragment
answers through: it passes the user's preferences, the CSRF token and the asset names, and
sets the CSRF cookie on a browser's first visit."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from brisa.web.ui import favourites, live, states, timefmt
from brisa.web.ui.assets import Assets
from brisa.web.ui.prefs import Prefs, from_cookies
from brisa.web.ui.security import CSRF_COOKIE, new_token

TEMPLATES = Path(__file__).parent / "templates"
VERSION_MARK = "__BRISA_VERSION__"  # replaced by the fragment's version (see `fragment`)


def environment(assets: Assets) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the package: compiled once, never re-checked on disk per render
        # (the check was 15 % of the DAG list's time in W10).
        auto_reload=False,
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
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    topics: list[str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page or fragment. `topics`: the live-update topics the page subscribes to
    (`web/ui/live.py`)."""
    env: Environment = request.app.state.ui_env
    prefs = prefs_of(request)
    token, fresh = csrf_of(request)
    now = datetime.now(UTC)
    zone = prefs.tz
    values.setdefault("starred", frozenset(favourites.from_cookies(request.cookies)))
    html = env.get_template(template).render(
        request=request,
        prefs=prefs,
        csrf=token,
        now=now,
        when=lambda value, **kw: timefmt.time_tag(value, zone, **kw),
        ago=lambda value: timefmt.ago_text(value, now),
        zone_label=timefmt.zone_label(zone, now),
        topics=topics or [],
        version_mark=VERSION_MARK,
        **values,
    )
    response = HTMLResponse(html, status_code=status_code)
    if fresh:
        response.set_cookie(CSRF_COOKIE, token, samesite="strict", httponly=True, path="/")
    return response


def fragment(request: Request, template: str, **values: Any) -> Response:
    """A live fragment under the version/204 contract (UI.md A.1-3): its version is a hash of
    what it shows; a re-fetch that sends the version it holds (`?v=`) gets 204 No Content when
    nothing visible changed, and htmx does not swap. The template writes `{{ version_mark }}`
    where the version goes (e.g. `hx-vals='{"v": "{{ version_mark }}"}'`)."""
    response = render(request, template, **values)
    html = bytes(response.body).decode()
    version = hashlib.sha256(html.encode()).hexdigest()[:16]
    if request.query_params.get("v") == version:
        return Response(status_code=204)
    out = HTMLResponse(html.replace(VERSION_MARK, version), status_code=response.status_code)
    for key, value in response.headers.items():
        if key.lower() == "set-cookie":
            out.headers.append(key, value)
    return out
