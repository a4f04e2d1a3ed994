"""The attempt page (UI.md A.2.8): one try of a task, its header, the strip of every try and
the tabs Logs (A.3, fragments in `logview`), Details, Why waiting and Code."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from brisa.control.attempts import Attempt, download_name
from brisa.core.spec import TaskSpec
from brisa.errors import BrisaError, InvalidInput, NotFound
from brisa.logs.lines import LogFile, split_stamp
from brisa.web.ui import logview
from brisa.web.ui.access import UiCtx, UiScope
from brisa.web.ui.live import run_topic
from brisa.web.ui.logtext import lines_html
from brisa.web.ui.templating import render

router = APIRouter(include_in_schema=False)
Tab = Literal["logs", "details", "waiting", "code"]
TABS = ("logs", "details", "waiting", "code")
MAX_TRIES = 100_000
WAITING_STATES = frozenset({"none", "pending", "queued", "up_for_retry"})
CONFIG_LINE = "brisa: config | "
CONFIG_LINES = 400  # lines at the top of a log searched for the worker's config dump


def default_tab(state: str, started: bool) -> Tab:
    """Why waiting first for a try that has not started; else its log."""
    return "waiting" if state in WAITING_STATES and not started else "logs"


def config_rows(head: list[str]) -> list[tuple[str, str]]:
    """The worker's config dump (`brisa: config | key = value` lines, secrets already
    redacted by the worker) as (key, value) rows."""
    rows = []
    for text in head:
        _, _, rest = text.partition(CONFIG_LINE)
        if rest:
            key, _, value = rest.partition(" = ")
            rows.append((key, value))
    return rows


def definition_line(text: str, spec: TaskSpec | None) -> int | None:
    """The line of a Python task's `def` in its file (else the line the spec names)."""
    if spec is None:
        return None
    function = getattr(spec.body, "function", "")
    if function:
        pattern = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(function)}\b")
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.match(line):
                return number
    return spec.lineno


def _base(found: Attempt) -> str:
    run = found.run
    return (
        f"/teams/{run.team}/dags/{run.dag_id}/runs/{run.run_id}/tasks/{found.task.task_id}"
        f"/attempts/{found.record.try_number}"
    )


@router.get(logview.ATTEMPT, response_class=HTMLResponse)
def attempt_page(
    request: Request,
    ctx: UiCtx,
    scope: UiScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    number: str,
    tab: str = "",
    level: str = "debug",
    q: Annotated[str, Query(max_length=500)] = "",
    regex: bool = False,
    at: logview.Offset = None,
    line: logview.LineNo = None,
    wrap: bool = False,
    ts: str = "local",
    error: str = "",
) -> HTMLResponse:
    """Unknown values of the view's own parameters fall back to their defaults: a mistyped
    link still shows the attempt."""
    if not number.isdigit() or not 1 <= int(number) <= MAX_TRIES:
        raise NotFound(f"there is no try {number[:20]!r} of task {task_id}; tries count from 1")
    found = ctx.attempts.get(scope, team, dag_id, run_id, task_id, int(number))
    chosen = tab if tab in TABS else default_tab(found.record.state.value, found.started)
    level = level if level in logview.levels() else "debug"
    ts = ts if ts in ("local", "utc", "off") else "local"
    values: dict[str, Any] = {}
    if chosen == "logs":
        values = _logs(ctx, request, found, level, q, regex, at, line, last_error=error == "last")
    elif chosen == "details":
        values = {"config": config_rows(_head(ctx, found))}
    elif chosen == "code":
        values = _code(ctx, scope, found)
    return render(
        request,
        "attempt/page.html",
        # While the try waits, its Why-waiting tab refreshes with the run (attempt/waiting.html).
        topics=[run_topic(found.run.id)] if chosen == "waiting" and found.waiting else None,
        run_topic=run_topic(found.run.id),
        a=found,
        base=_base(found),
        tab=chosen,
        executor=ctx.settings.executor.kind,
        level=level,
        q=q,
        regex=regex,
        wrap=wrap,
        ts=ts,
        levels=logview.levels(),
        download=f"/api/v1{_base(found)}/logs/raw",
        download_name=download_name(found.run, task_id, int(number)),
        **values,
    )


def _head(ctx: UiCtx, found: Attempt) -> list[str]:
    log = ctx.attempts.log(found)
    return [line.text for line in log.after(0, CONFIG_LINES, 1)]


def _code(ctx: UiCtx, scope: UiScope, found: Attempt) -> dict[str, Any]:
    run = found.run
    try:
        snap = ctx.code.snapshot(scope, run.team, run.dag_id, run.code_version)
        shown = ctx.code.file(scope, run.team, run.dag_id, snap.sha, snap.dag_file)
    except BrisaError as exc:
        return {"code_error": str(exc), "code_text": None, "code_path": "", "code_line": None}
    line = definition_line(shown.text or "", found.spec)
    return {"code_error": "", "code_text": shown.text, "code_path": shown.path, "code_line": line,
            "code_sha": snap.sha}  # fmt: skip


def _last_line(log: LogFile) -> dict[str, Any]:
    """For a finished log (its worker may have been killed or lost): its last line and when
    it was written, for the notice that explains a lost worker (UI.md A.3-5)."""
    if not (log.over and log.size):
        return {"last_line": None, "last_written": None}
    tail = log.tail(1)
    if not tail:
        return {"last_line": None, "last_written": None}
    last = tail[-1]
    stamp, _ = split_stamp(last.text)
    try:
        written = datetime.fromisoformat(stamp).replace(tzinfo=UTC) if stamp else None
    except ValueError:
        written = None
    return {"last_line": last, "last_written": written}


def _logs(
    ctx: UiCtx,
    request: Request,
    found: Attempt,
    level: str,
    q: str,
    regex: bool,
    at: int | None,
    line: int | None,
    *,
    last_error: bool = False,
) -> dict[str, Any]:
    try:
        pattern = logview.search_pattern(q, regex)
        search_error = ""
    except InvalidInput as exc:
        pattern, search_error = None, str(exc)
    if not found.started and found.task.try_number == 0:  # never queued: nothing to read
        return {"log": None, "search_error": search_error}
    log = ctx.attempts.log(found)
    if line is not None:
        at = log.offset_of(line)
    elif last_error and at is None:  # "Last error": the whole log is read for it
        hit = log.last("error")
        at = hit.offset if hit else None
    match_list, total = logview.matches(log, pattern, level)
    first_match = int(match_list.split(",")[0].split(":")[1]) if match_list and at is None else None
    if level != "debug":
        win = logview.filtered_window(log, level, at)
    else:
        first_error = None
        if found.record.state.value == "failed" and at is None and first_match is None:
            hit = log.first("error")
            first_error = hit.offset if hit else None
        start = logview.opening(state=found.record.state.value, over=log.over, at=at,
                                first_match=first_match, first_error=first_error)  # fmt: skip
        win = logview.window(log, start)
    return {
        **_last_line(log),
        "log": log,
        "win": win,
        "body": lines_html(win.lines, logview.zone_of(request), pattern),
        "stream_from": logview.end_of(win.lines) if win.lines else 0,
        "match_list": match_list,
        "match_total": total,
        "search_error": search_error,
        "page_url": logview.page_prefix(
            f"/_{_base(found)}/logs/page",
            [
                ("level", level if level != "debug" else ""),
                ("q", q),
                ("regex", "true" if regex else ""),
            ],
        ),
        "stream_url": f"/_{_base(found)}/logs/stream",
        "filtered": level != "debug",
    }
