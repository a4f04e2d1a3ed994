"""The DAG page's grid (UI.md A.2.4): runs as columns (oldest left, newest right), tasks as rows
in the topological order of the latest version, one cell per (run, task). `assemble` is pure;
the reads that feed it are a bounded few statements whatever the number of runs (the runs with
their task instances, then the specs of their versions: see `DagViews.grid`).

A finished run's column has a `ColumnKey`: everything its cells are made of, down to the mark
of its task transitions read from the database, so a caller that kept the cells it rendered
for that key (the web UI, `web/ui/gridcache.py`) may skip reading its tasks again, and any
change (a clear, a mark, a re-run, another version) makes a new key in every process.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from brisa.core import graph
from brisa.core.records import RunRecord, TaskRecord
from brisa.core.spec import DagSpec
from brisa.errors import InvalidInput

Direction = Literal["up", "down", "both"]
MAX_DEPTH = 50


@dataclass(frozen=True)
class RowFilter:
    """Which rows to show: tasks whose id contains `text`, and/or the tasks within `depth`
    edges of `root` in direction `dir` (the root itself included)."""

    text: str = ""
    root: str = ""
    depth: int | None = None
    dir: Direction = "both"

    def __post_init__(self) -> None:
        if self.depth is not None and not 0 <= self.depth <= MAX_DEPTH:
            raise InvalidInput(f"depth must be between 0 and {MAX_DEPTH}, not {self.depth}")
        if self.dir not in ("up", "down", "both"):
            raise InvalidInput(f"dir must be up, down or both, not {self.dir!r}")

    @property
    def active(self) -> bool:
        return bool(self.text or self.root)


class Cell(NamedTuple):
    """One task in one run; `task` is None when the run's version has no such task. A tuple:
    a grid builds 5,000 of them, and a frozen dataclass's `__init__` was a tenth of the page."""

    task_id: str
    task: TaskRecord | None
    max_tries: int

    @property
    def state(self) -> str:
        return self.task.state.value if self.task else "absent"


class ColumnKey(NamedTuple):
    """What a finished run's cells are made of: the run (its creation time too, so a run
    deleted and made again under the same id is another key), its version (the retries), its
    state, its mark (`Store.grid_runs`: newest transition id and count, which every move of
    one of its task instances changes), and the rows (the latest version and the filter)."""

    run_pk: int
    run_id: str
    created_at: datetime
    version_id: int
    state: str
    mark: tuple[int, int]
    latest_version: int
    rows: RowFilter


def column_key(
    run: RunRecord, mark: tuple[int, int], latest_version: int, wanted: RowFilter
) -> ColumnKey:
    return ColumnKey(
        run.id,
        run.run_id,
        run.created_at,
        run.version_id,
        run.state.value,
        mark,
        latest_version,
        wanted,
    )


# Which finished columns the caller already holds the cells of (their tasks are not read).
Held = Callable[[ColumnKey], bool]


@dataclass(frozen=True)
class Column:
    run: RunRecord
    cells: dict[str, Cell]
    # The commit of the column on the left when it differs from this run's (a marker goes
    # between them), else None.
    commit_before: str | None
    # A finished run's key (None while the run is not finished: its cells are not kept).
    key: ColumnKey | None = None
    # False when the run's tasks were not read because the caller holds the cells for `key`
    # (`cells` is then empty).
    loaded: bool = True

    def duration(self, now: datetime) -> float | None:
        start = self.run.start_date
        if start is None:
            return None
        return ((self.run.end_date or now) - start).total_seconds()


@dataclass(frozen=True)
class Grid:
    spec: DagSpec
    rows: list[str]
    columns: list[Column]
    filtered: RowFilter


def topo_rows(spec: DagSpec) -> list[str]:
    return graph.topological_order({tid: t.upstream for tid, t in spec.tasks.items()})


def _neighbours(spec: DagSpec, root: str, depth: int | None, direction: Direction) -> set[str]:
    up = {tid: set(t.upstream) for tid, t in spec.tasks.items()}
    down = spec.downstream()
    edges = [e for e, on in ((up, direction != "down"), (down, direction != "up")) if on]
    found = {root}
    for step in edges:
        frontier, level = {root}, 0
        while frontier and (depth is None or level < depth):
            frontier = {n for f in frontier for n in step.get(f, ())} - found
            found |= frontier
            level += 1
    return found


def select_rows(spec: DagSpec, wanted: RowFilter) -> list[str]:
    """The grid's rows for a filter, in topological order. An unknown root: InvalidInput."""
    rows = topo_rows(spec)
    if wanted.root:
        if wanted.root not in spec.tasks:
            raise InvalidInput(f"no task {wanted.root!r} in this DAG to filter around")
        near = _neighbours(spec, wanted.root, wanted.depth, wanted.dir)
        rows = [r for r in rows if r in near]
    if wanted.text:
        needle = wanted.text.lower()
        rows = [r for r in rows if needle in r.lower()]
    return rows


def retries_of(spec: DagSpec | None) -> dict[str, int]:
    """Each task's retries in a version (none for a version that is gone)."""
    return {tid: t.retries for tid, t in spec.tasks.items()} if spec else {}


def column(
    run: RunRecord,
    rows: Iterable[str],
    spec: DagSpec | None,
    before: str | None,
    *,
    retries: Mapping[str, int] | None = None,
    key: ColumnKey | None = None,
    loaded: bool = True,
) -> Column:
    """One run's cells for `rows`; `spec`: the run's own version (for its retries), or
    `retries`: its `retries_of` when the caller has it (one per version, not per run).
    `loaded=False`: no cells (the caller holds them for `key`)."""
    changed = before if before is not None and before != run.code_version else None
    if not loaded:
        return Column(run, {}, changed, key, loaded=False)
    per_task = retries if retries is not None else retries_of(spec)
    tasks = run.tasks
    cells = {}
    for tid in rows:
        ti = tasks.get(tid)
        cells[tid] = Cell(tid, ti, (ti.retry_base if ti else 0) + per_task.get(tid, 0) + 1)
    return Column(run, cells, changed, key)


def assemble(
    latest: DagSpec,
    runs_newest_first: list[RunRecord],
    specs: Mapping[int, DagSpec],
    wanted: RowFilter,
    *,
    keys: Mapping[int, ColumnKey] | None = None,
    held: Collection[int] = (),
) -> Grid:
    """The grid: rows from the latest spec (filtered), columns oldest -> newest. `keys`: the
    finished runs' keys by run pk; `held`: the pks of the runs whose tasks were not read."""
    rows = select_rows(latest, wanted)
    columns: list[Column] = []
    before: str | None = None
    retries: dict[int, dict[str, int]] = {}
    keys = keys or {}
    for run in reversed(runs_newest_first):
        if run.version_id not in retries:
            retries[run.version_id] = retries_of(specs.get(run.version_id))
        per_task = retries[run.version_id]
        key, loaded = keys.get(run.id), run.id not in held
        columns.append(column(run, rows, None, before, retries=per_task, key=key, loaded=loaded))
        before = run.code_version
    return Grid(latest, rows, columns, wanted)
