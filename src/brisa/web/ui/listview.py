"""How the lists present what they show: schedules in words, recent-run bars (height by
duration), ids safe for HTML, and the URLs that add, change or drop one filter. Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from jinja2.utils import url_quote
from markupsafe import Markup, escape

from brisa.core.spec import CronSchedule, IntervalSchedule, ScheduleSpec
from brisa.web.ui import states
from brisa.web.ui.timefmt import duration_text, local_text

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MIN_BAR = 15  # percent: a run of no duration still shows as a bar


def _clock(minute: str, hour: str) -> str | None:
    if minute.isdigit() and hour.isdigit():
        return f"{int(hour):02d}:{int(minute):02d}"
    return None


def cron_words(expr: str) -> str | None:
    """Common cron expressions in words (`daily at 06:30`); None for the others."""
    fields = expr.split()
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    at = _clock(minute, hour)
    if fields[1:] == ["*"] * 4:
        if minute.isdigit():
            return f"hourly at :{int(minute):02d}"
        if minute.startswith("*/") and minute[2:].isdigit():
            return f"every {int(minute[2:])} minutes"
        return None
    if at is None or month != "*":
        return None
    if dom == "*" and dow == "*":
        return f"daily at {at}"
    if dom == "*" and dow.isdigit() and int(dow) <= 7:
        return f"weekly on {DAYS[int(dow) % 7]} at {at}"
    if dow == "*" and dom.isdigit():
        return f"monthly on day {int(dom)} at {at}"
    return None


def schedule_words(spec: ScheduleSpec) -> tuple[str, str]:
    """(words, detail): `daily at 06:00`, `0 6 * * * Europe/Lisbon`."""
    if isinstance(spec, CronSchedule):
        detail = f"{spec.expr} {spec.timezone}"
        return cron_words(spec.expr) or spec.expr, detail
    if isinstance(spec, IntervalSchedule):
        return f"every {duration_text(spec.seconds)}", "interval"
    return "manual only", "triggered by hand"


def bar_heights(durations: Sequence[float | None]) -> list[int]:
    """Bar heights in percent: the longest run fills its cell, none is lower than MIN_BAR."""
    longest = max((d for d in durations if d), default=0.0)
    if longest <= 0:
        return [MIN_BAR for _ in durations]
    return [max(MIN_BAR, round(100 * (d or 0) / longest)) for d in durations]


class BarRun(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def start_date(self) -> datetime | None: ...
    @property
    def end_date(self) -> datetime | None: ...


def bars_html(runs: Sequence[BarRun], dag_url: str, now: datetime) -> Markup:
    """A DAG's recent runs as bars (oldest first): height by duration, state by class, glyph
    and label, each a link to its run. Built here rather than in the template: a page holds
    700 of them, and a Jinja loop made them most of the DAG list's render time (W10)."""
    durations = [seconds_between(r.start_date, r.end_date, now) for r in runs]
    url = escape(dag_url)
    heads: dict[str, str] = {}  # per state: what goes before the run's URL segment
    tails: dict[str, tuple[str, str]] = {}  # per state: its words, and the glyph that ends it
    out = []
    for run, fill, took in zip(runs, bar_heights(durations), durations, strict=True):
        state = run.state
        if state not in heads:
            heads[state] = f'<a class="bar state-{escape(state)}" href="{url}/runs/'
            tails[state] = (states.words(state), f'">{escape(states.glyph(state))}</a>')
        words, end = tails[state]
        label = escape(f"{run.run_id}: {words}, {duration_text(took)}")
        out.append(
            f'{heads[state]}{segment(run.run_id)}" style="--f: {fill / 100:.2f}" '
            f'aria-label="{label}{end}'
        )
    return Markup("".join(out))


def seconds_between(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    if start is None:
        return None
    return max(0.0, ((end or now) - start).total_seconds())


def element_id(prefix: str, *parts: str) -> str:
    """An HTML id for an object whatever characters its ids hold."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"


def with_params(path: str, params: Mapping[str, str], **changes: str | None) -> str:
    """`path` with `params` changed: a value replaces, None or '' drops; paging restarts."""
    merged = {k: v for k, v in params.items() if v and k != "after"}
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return f"{path}?{urlencode(merged)}" if merged else path


def segment(value: str) -> str:
    return quote(value, safe="")


# A DAG list row's cells that are the same few formats for every row (50 a page), built here
# rather than through the template's macros and filters (W10's profile, docs/benchmarks.md).
# The HTML is what `lists/dag_row.html` wrote with them.


def rel_time(at: datetime, zone: ZoneInfo) -> str:
    """A `<time class="rel">` the browser words relatively; the display zone's text inside and,
    with seconds, on hover."""
    iso = escape(at.isoformat().replace("+00:00", "Z"))
    full, short = escape(local_text(at, zone)), escape(local_text(at, zone, seconds=False))
    return f'<time class="rel" datetime="{iso}" title="{full}">{short}</time>'


def state_html(state: str | None) -> str:
    """The `state` macro of macros.html (glyph and words)."""
    value = escape(state or "none")
    glyph, words = escape(states.glyph(state)), escape(states.words(state))
    return (
        f'<span class="state state-{value}"><span class="glyph" aria-hidden="true">{glyph}'
        f"</span> {words}</span>"
    )


def last_run_cell(run: BarRun | None, at: datetime | None, url: str, zone: ZoneInfo) -> Markup:
    """The last run: its state, and when (its start, else its logical date) linking to it."""
    if run is None or at is None:
        return Markup('<span class="muted">No runs yet</span>')
    when = rel_time(at, zone)
    link = escape(url)
    return Markup(f'{state_html(run.state)}<div class="small"><a href="{link}">{when}</a></div>')


def next_run_cell(at: datetime | None, paused: bool, zone: ZoneInfo) -> Markup:
    if at is not None:
        return Markup(rel_time(at, zone))
    return Markup(f'<span class="muted">{"paused" if paused else "—"}</span>')


def tags_html(tags: Sequence[str]) -> Markup:
    """Each tag a link that filters the list by it."""
    out = [f'<a class="tag" href="/dags?tag={escape(url_quote(t))}">{escape(t)}</a> ' for t in tags]
    return Markup("".join(out))
