"""The log viewer of the attempt page (UI.md A.3): where it opens, its 1,000-line pages in
both directions, ±20 lines of context, search over the whole log, and the live stream of new
lines as `log` events (rendered by `logtext`), ended by one `end` event.

The window decision (`Opening`) is pure; the rest reads through `control.attempts`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from markupsafe import Markup

from brisa.control.attempts import Attempt
from brisa.core.states import ACTIVE_TASK_STATES
from brisa.errors import InvalidInput
from brisa.logs import tail
from brisa.logs.lines import LEVELS, Line, LogFile
from brisa.web.api.runs import MAX_LOG_OFFSET, _stream_threads
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.logtext import lines_html, render_lines
from brisa.web.ui.templating import prefs_of, render

PAGE_LINES = 1000  # lines per page, either way
DOM_LINES = 5000  # lines the browser keeps (static/logview.js trims the far end)
CONTEXT = 20  # lines either side of "show context"
BATCH_LINES = 500  # lines per live event at most
DECIDED_EVERY = 0.5  # seconds between two reads of a try's state once its log is closed
DECIDED_WITHIN = 120.0  # at most this long: then the log ends anyway
ATTEMPT = "/teams/{team}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/attempts/{number}"
router = APIRouter(prefix="/_" + ATTEMPT + "/logs", include_in_schema=False)

Offset = Annotated[int | None, Query(ge=0, le=MAX_LOG_OFFSET)]
LineNo = Annotated[int | None, Query(ge=1, le=10**9)]
Level = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True)
class Opening:
    """Where the viewer opens: the tail, or around one offset (`at`), and whether it follows."""

    at: int | None
    follow: bool
    highlight: bool  # the line at `at` is the point of interest (first error, a match)


def opening(
    *, state: str, over: bool, at: int | None, first_match: int | None, first_error: int | None
) -> Opening:
    """`at=`/`#L` wins; then the first search match; a failed attempt opens on its first
    ERROR line; anything else at the tail, following while the log is written."""
    if at is not None:
        return Opening(at, False, True)
    if first_match is not None:
        return Opening(first_match, False, True)
    if state == "failed" and first_error is not None:
        return Opening(first_error, False, True)
    return Opening(None, not over, False)


def search_pattern(q: str, regex: bool) -> re.Pattern[str] | None:
    """The search as a pattern (case-insensitive); InvalidInput for a bad regex."""
    if not q:
        return None
    try:
        return re.compile(q if regex else re.escape(q), re.IGNORECASE | re.MULTILINE)
    except re.error as exc:
        raise InvalidInput(f"the search {q!r} is not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class Window:
    lines: list[Line]
    before: int | None  # offset to load earlier lines from (None: at the start)
    after: int | None  # offset to load later lines from (None: at the end)
    highlight: int | None  # line number to highlight
    follow: bool
    next_after: int = 0  # the line number after the window


def end_of(lines: list[Line]) -> int:
    return lines[-1].offset + len(lines[-1].text.encode()) + 1 if lines else 0


def window(log: LogFile, start: Opening) -> Window:
    if start.at is None:
        lines = log.tail(PAGE_LINES)
        first = lines[0].offset if lines else 0
        return Window(lines, first or None, None, None, start.follow, _next(lines, log))
    at = log.line_start(start.at)
    number = log.number_at(at)
    lines = log.before(at, PAGE_LINES // 2, number) + log.after(at, PAGE_LINES // 2, number)
    end = end_of(lines)
    first = lines[0].offset if lines else at
    highlight = number if start.highlight else None
    return Window(lines, first or None, end if end < log.size else None, highlight, False)


def _next(lines: list[Line], log: LogFile) -> int:
    return lines[-1].number + 1 if lines else log.number_at(log.size)


def filtered_window(log: LogFile, minimum: str, at: int | None) -> Window:
    lines, more = log.filtered(log.line_start(at or 0), PAGE_LINES, minimum)
    return Window(lines, None, more, None, False)


def matches(log: LogFile, pattern: re.Pattern[str] | None, minimum: str) -> tuple[str, int]:
    """`number:offset,...` of the matches (bounded) and their total."""
    if pattern is None:
        return "", 0
    found, total = log.search(pattern, minimum)
    return ",".join(f"{m.number}:{m.offset}" for m in found), total


def page_prefix(path: str, params: Iterable[tuple[str, str]]) -> str:
    """`path?<params but offset and dir>&`: a page URL to which `offset=...` is appended."""
    kept = urlencode([(k, v) for k, v in params if k not in ("offset", "dir") and v])
    return f"{path}?{kept}&" if kept else f"{path}?"


def zone_of(request: Request) -> ZoneInfo:
    return prefs_of(request).tz


def _attempt(
    ctx: UiCtx, scope: UiScope, team: str, dag_id: str, run_id: str, task_id: str, number: int
) -> Attempt:
    return ctx.attempts.get(scope, team, dag_id, run_id, task_id, number)


@router.get("/page", response_class=HTMLResponse)
def log_page(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    number: int,
    offset: Offset = 0,
    dir: Literal["before", "after"] = "after",  # the URL's word (UI.md A.3-2)
    level: Level = "debug",
    q: Annotated[str, Query(max_length=500)] = "",
    regex: bool = False,
) -> HTMLResponse:
    """1,000 lines before or after `offset`, with the sentinel that loads the next page."""
    log = ctx.attempts.log(_attempt(ctx, scope, team, dag_id, run_id, task_id, number))
    at = log.line_start(offset or 0)
    if level != "debug":
        lines, more = log.filtered(at, PAGE_LINES, level)
        return _page(request, lines, None, more, level, search_pattern(q, regex))
    if dir == "before":
        lines = log.before(at, PAGE_LINES)
        first = lines[0].offset if lines else 0
        return _page(request, lines, first or None, None, level, search_pattern(q, regex))
    lines = log.after(at, PAGE_LINES)
    end = end_of(lines)
    later = end if lines and end < log.size else None
    return _page(request, lines, None, later, level, search_pattern(q, regex))


def _page(
    request: Request,
    lines: list[Line],
    before: int | None,
    after: int | None,
    level: str,
    mark: re.Pattern[str] | None,
) -> HTMLResponse:
    return render(
        request,
        "attempt/log_page.html",
        body=lines_html(lines, zone_of(request), mark),
        before=before,
        after=after,
        page_url=page_prefix(request.url.path, request.query_params.items()),
        level=level,
    )


@router.get("/context", response_class=HTMLResponse)
def log_context(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    number: int,
    offset: Offset = 0,
) -> HTMLResponse:
    """The line at `offset` with CONTEXT lines either side (for a filtered view)."""
    log = ctx.attempts.log(_attempt(ctx, scope, team, dag_id, run_id, task_id, number))
    at = log.line_start(offset or 0)
    line_no = log.number_at(at)
    lines = log.before(at, CONTEXT, line_no) + log.after(at, CONTEXT + 1, line_no)
    body = lines_html(lines, zone_of(request))
    return HTMLResponse(Markup('<div class="ctx">{}</div>').format(body))


def live_events(
    follower: Iterable[tail.Chunk | tail.End | None], offset: int, number: int, zone: ZoneInfo
) -> Generator[str]:
    """SSE: `log` events of whole rendered lines (id = the offset after them, at most
    BATCH_LINES each), then one `end` event. A partial last line waits for its newline."""
    yield "retry: 1000\n\n"
    carry = ""
    for event in follower:
        if event is None:
            yield ""
            continue
        if isinstance(event, tail.Chunk):
            carry += event.content
            cut = carry.rfind("\n") + 1
            whole, carry = carry[:cut], carry[cut:]
        else:
            whole, carry = carry, ""
        for part in _batches(whole):
            yield _event("log", render_lines(part, number, offset=offset, zone=zone),
                         offset + len(part.encode()))  # fmt: skip
            offset += len(part.encode())
            number += part.count("\n") + (0 if part.endswith("\n") else 1)
        if isinstance(event, tail.End):
            final = Markup('<span class="badge badge-final" id="log-badge">FINAL</span>')
            yield _event("end", final, offset)
            return


def until_decided(
    follower: Iterable[tail.Chunk | tail.End | None],
    decided: Callable[[], bool],
    *,
    wait: Callable[[float], None] = time.sleep,
    every: float = DECIDED_EVERY,
    limit: float = DECIDED_WITHIN,
) -> Iterator[tail.Chunk | tail.End | None]:
    """The follower's events, its End held back until the attempt's state is decided
    (`decided()`, asked every `every` seconds, at most `limit` seconds): a log can be closed
    before the try's outcome is stored (a killed worker's log is closed by its parent, the
    scheduler fails the try later), and the page reads the outcome when the log ends."""
    for event in follower:
        if isinstance(event, tail.End):
            waited = 0.0
            while waited < limit and not decided():
                yield None  # a heartbeat comment keeps the stream open
                wait(every)
                waited += every
        yield event


def _batches(text: str) -> Iterable[str]:
    lines = text.splitlines(keepends=True)
    for start in range(0, len(lines), BATCH_LINES):
        yield "".join(lines[start : start + BATCH_LINES])


def _event(name: str, html: Markup, offset: int) -> str:
    data = "".join(f"data: {row}\n" for row in str(html).split("\n"))
    return f"id: {offset}\nevent: {name}\n{data}\n"


@router.get("/stream")
def log_stream(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    number: int,
    offset: Offset = 0,
    last_id: Offset = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """New lines of a running try from `offset` (a reconnect resumes from its last id)."""
    if last_event_id and last_event_id.strip().isdigit():
        last_id = min(int(last_event_id), MAX_LOG_OFFSET)
    start = offset or 0 if last_id is None else last_id
    found = _attempt(ctx, scope, team, dag_id, run_id, task_id, number)
    log = ctx.attempts.log(found)
    start = log.line_start(min(start, log.size))
    follower = ctx.queries.log_follower(
        scope, team, dag_id, run_id, task_id, try_number=number, offset=start
    )

    def decided() -> bool:
        again = _attempt(ctx, scope, team, dag_id, run_id, task_id, number)
        return again.record.state not in ACTIVE_TASK_STATES

    events = live_events(
        until_decided(follower, decided), start, log.number_at(start), zone_of(request)
    )
    return StreamingResponse(
        _stream_threads(request.app, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def levels() -> tuple[str, ...]:
    return LEVELS
