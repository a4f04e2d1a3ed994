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
from brisa.web.ui.gridcache import Lookup

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
    rows' `row_keys` when the caller has them. The pieces that depend only on the run or on
    the state are joined once per column; a cell is one f-string of them and its row's keys."""
    run = column.run
    run_text = escape(run.run_id)
    swap = OOB if oob else ""
    # escaping is per character: the parts of an href or a label escape alone
    link = f'"{swap}><a class="gl" tabindex="-1" href="{escape(_link(base, run.run_id, "/tasks/"))}'
    label = f'{escape(query)}" aria-label="'
    of_run = f", run {run_text}, "
    heads: dict[str, str] = {}
    ends: dict[str, str] = {}
    absent = (
        f'"{swap}><span class="gl" tabindex="-1" aria-label="',
        f'{of_run}not in this version">·</span></div>',
    )
    out = []
    for tid, name, segment in keys if keys is not None else row_keys(rows):
        cell = column.cells[tid]
        task = cell.task
        if task is None:
            head = f'<div role="gridcell" class="gc s-absent" id="c-{run.id}-{name}'
            out.append(f"{head}{absent[0]}{name}{absent[1]}")
            continue
        state = task.state.value
        if state not in heads:
            heads[state] = f'<div role="gridcell" class="gc s-{state}" id="c-{run.id}-'
            ends[state] = f'">{states.glyph(state)}</a></div>'
        tries = task.try_number
        words = f"{of_run}{states.words(state)}"
        if tries:
            words = f"{words}, try {tries} of {cell.max_tries}"
        out.append(f"{heads[state]}{name}{link}{segment}{label}{name}{words}{ends[state]}")
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


def rows_html(
    columns: list[Column], rows: list[str], base: str, query: str, kept: Lookup | None = None
) -> Markup:
    """Every task row of the grid: the task's name, then its cell in each run. `kept`: the
    request's grid cache, which holds the cells of the columns whose tasks were not read and
    keeps those of the finished columns built here."""
    keys = row_keys(rows)
    by_column: list[list[str] | tuple[str, ...]] = []
    for c in columns:
        if kept is not None and c.key is not None and not c.loaded:
            by_column.append(kept.found[c.key])
            continue
        built = cells(c, rows, base, query, keys=keys)
        if kept is not None and c.key is not None:
            kept.keep(c.key, built)
        by_column.append(built)
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
