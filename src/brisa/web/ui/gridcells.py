"""The grid's cells and run bars as HTML, built in Python: 5,000 cells through a Jinja macro
took seconds (UI.md A.5 wants the page in 250 ms), string joins take milliseconds. Every
value is escaped (`markupsafe.escape`); the templates receive `Markup`."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from markupsafe import Markup, escape

from brisa.control.grid import Column
from brisa.web.ui import states, timefmt
from brisa.web.ui.dagfmt import bar_height

OOB = ' hx-swap-oob="true"'


def _link(base: str, run_id: str, tail: str = "") -> str:
    return f"{base}/runs/{quote(run_id, safe='')}{tail}"


def row_keys(rows: list[str]) -> list[tuple[str, Markup, Markup]]:
    """Each row's task id with its escaped text and its escaped URL segment: worked out once
    per grid rather than once per cell (5,000 cells: the escapes and quotes were a fifth of
    the page's CPU, W10's profile in docs/benchmarks.md)."""
    return [(tid, escape(tid), escape(quote(tid, safe=""))) for tid in rows]


def cells(
    column: Column,
    rows: list[str],
    base: str,
    query: str,
    *,
    oob: bool = False,
    keys: list[tuple[str, Markup, Markup]] | None = None,
) -> list[str]:
    """One `<div role="gridcell">` per row of one run (already escaped HTML); `keys`: the
    rows' `row_keys` when the caller has them."""
    run = column.run
    run_text = escape(run.run_id)
    prefix = escape(_link(base, run.run_id, "/tasks/"))
    tail = escape(query)
    swap = OOB if oob else ""
    out = []
    for tid, name, segment in keys if keys is not None else row_keys(rows):
        cell = column.cells[tid]
        ident = f'c-{run.id}-{name}"{swap}'
        if cell.task is None:
            out.append(
                f'<div role="gridcell" class="gc s-absent" id="{ident}><span class="gl" '
                f'tabindex="-1" aria-label="{name}, run {run_text}, not in this version">·</span>'
                "</div>"
            )
            continue
        state = cell.state
        tries = cell.task.try_number
        label = f"{name}, run {run_text}, {states.words(state)}"
        if tries:
            label += f", try {tries} of {cell.max_tries}"
        href = f"{prefix}{segment}{tail}"  # escaping is per character: parts escape alone
        out.append(
            f'<div role="gridcell" class="gc s-{state}" id="{ident}><a class="gl" tabindex="-1" '
            f'href="{href}" aria-label="{label}">{states.glyph(state)}</a></div>'
        )
    return out


def bar(column: Column, base: str, query: str, now: datetime, *, oob: bool = False) -> Markup:
    """A run's bar above its column: height by duration, colour and glyph by state."""
    run = column.run
    seconds = column.duration(now)
    state = run.state.value
    words = states.words(state)
    took = timefmt.duration_text(seconds)
    commit = f" · {run.code_version[:7]}" if run.code_version else ""
    return Markup(
        '<a class="bar s-{state}" tabindex="-1" id="b-{pk}"{swap} href="{href}" '
        'style="height: {height}px" title="{run_id} · {words} · {took}{commit}" '
        'aria-label="run {run_id}, {words}, {took}"><span aria-hidden="true">{glyph}</span></a>'
    ).format(
        state=state,
        pk=run.id,
        swap=Markup(OOB) if oob else "",
        href=_link(base, run.run_id, query),
        height=bar_height(seconds),
        run_id=run.run_id,
        words=words,
        took=took,
        commit=commit,
        glyph=states.glyph(state),
    )


def rows_html(columns: list[Column], rows: list[str], base: str, query: str) -> Markup:
    """Every task row of the grid: the task's name, then its cell in each run."""
    keys = row_keys(rows)
    by_column = [cells(c, rows, base, query, keys=keys) for c in columns]
    out = []
    for index, (_, name, _) in enumerate(keys):
        row = "".join(col[index] for col in by_column)
        out.append(
            f'<div role="row" class="gr"><div role="rowheader" class="gt" title="{name}">'
            f"{name}</div>{row}</div>"
        )
    return Markup("\n".join(out))


def column_html(column: Column, base: str, query: str) -> Markup:
    """One run's cells for an out-of-band swap."""
    return Markup("\n".join(cells(column, list(column.cells), base, query, oob=True)))
