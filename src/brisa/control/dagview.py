"""What the DAG page reads (UI.md A.2.3-A.2.7): the DAG with its next fire times and import
error, the grid, one grid column, a version's structure, a run with every attempt of its tasks.
Each read is a bounded few statements, whatever the number of runs or tasks. Same visibility
rule as `control.queries`: another team's DAG or run is NotFound."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from brisa.control import grid as grids
from brisa.control import structure
from brisa.control.queries import Clock, DagSummary, Scope, in_dag_order, no_dag, no_run, summarize
from brisa.control.redaction import Redaction
from brisa.core import timetable
from brisa.core.records import AttemptRecord, DagRecord, ImportErrorRecord, RunRecord
from brisa.core.spec import DagSpec, ManualSchedule
from brisa.core.states import FINISHED_RUN_STATES
from brisa.errors import NotFound
from brisa.store import Store

MAX_RUNS = 100
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class DagPage:
    summary: DagSummary
    upcoming: list[datetime]
    import_error: ImportErrorRecord | None


@dataclass(frozen=True)
class GridView:
    """The grid fragment: the grid, and the DAG with its next run (shown when no run is)."""

    summary: DagSummary
    grid: grids.Grid


@dataclass(frozen=True)
class RunView:
    """A run (tasks in DAG order) with its version's spec and every attempt by task."""

    run: RunRecord
    spec: DagSpec | None
    attempts: dict[str, list[AttemptRecord]]


def upcoming_fires(summary: DagSummary, count: int = 3) -> list[datetime]:
    """The next `count` fire times from the next run on (none for manual or paused DAGs)."""
    spec = summary.record.spec
    fire = summary.next_run
    if fire is None or spec.start_date is None or isinstance(spec.schedule, ManualSchedule):
        return []
    out = [fire]
    while len(out) < count:
        fire = timetable.first_fire_at_or_after(spec.schedule, spec.start_date, fire + _TICK)
        if spec.end_date is not None and fire > spec.end_date:
            break
        out.append(fire)
    return out


class DagViews:
    """The DAG page's reads, for one caller's scope."""

    def __init__(self, store: Store, shown: Redaction, clock: Clock) -> None:
        self._store = store
        self._shown = shown
        self._clock = clock

    def _summary(self, record: DagRecord) -> DagSummary:
        """The DAG with its next run, from its own newest scheduled run (one statement)."""
        key = (record.team, record.dag_id)
        newest = self._store.newest_scheduled([key])
        return summarize(self._store, [record], self._clock(), newest)[0]

    def page(self, scope: Scope, team: str, dag_id: str) -> DagPage:
        """The header: the DAG, its next fire times and its file's import error (3
        statements)."""
        scope.require(team, no_dag(team, dag_id))
        record = self._shown.dag(self._store.get_dag(team, dag_id))
        summary = self._summary(record)
        errors = [
            e
            for e in self._store.list_import_errors(team)
            if e.repo == record.repo and e.filename == record.fileloc
        ]
        return DagPage(summary, upcoming_fires(summary), errors[0] if errors else None)

    def grid(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        wanted: grids.RowFilter,
        *,
        runs: int = 25,
        held: grids.Held | None = None,
    ) -> grids.Grid:
        """The newest `runs` runs by the latest version's tasks (3 statements, 4 while a
        version's spec is not cached yet; 2 when `held` says it holds every finished column
        and no run is unfinished)."""
        scope.require(team, no_dag(team, dag_id))
        return self._grid(self._store.get_dag(team, dag_id), wanted, runs, held)

    def _grid(
        self, record: DagRecord, wanted: grids.RowFilter, runs: int, held: grids.Held | None
    ) -> grids.Grid:
        """The runs with their marks; the tasks of those whose cells the caller does not hold
        (`held`, asked about each finished run's key)."""
        found = self._store.grid_runs(record.team, record.dag_id, limit=min(runs, MAX_RUNS))
        keys = {
            run.id: grids.column_key(run, mark, record.version_id, wanted)
            for run, mark in found
            if run.state in FINISHED_RUN_STATES
        }
        skip = {pk for pk, key in keys.items() if held is not None and held(key)}
        read = {r.id: r for r in self._store.run_cells([r for r, _ in found if r.id not in skip])}
        shown = self._shown.runs(read.get(r.id, r) for r, _ in found)
        specs = self._store.specs_of({r.version_id for r in shown})
        return grids.assemble(record.spec, shown, specs, wanted, keys=keys, held=skip)

    def grid_view(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        wanted: grids.RowFilter,
        *,
        runs: int = 25,
        held: grids.Held | None = None,
    ) -> GridView:
        """The grid fragment's reads: the DAG once, the grid, and the next run only when
        there is no run to show (at most 4 statements, whatever the number of runs)."""
        scope.require(team, no_dag(team, dag_id))
        record = self._shown.dag(self._store.get_dag(team, dag_id))
        grid = self._grid(record, wanted, runs, held)
        summary = DagSummary(record, None) if grid.columns else self._summary(record)
        return GridView(summary, grid)

    def column(
        self, scope: Scope, team: str, dag_id: str, run_id: str, wanted: grids.RowFilter
    ) -> grids.Column:
        """One run's column of the grid (a live refresh of that run)."""
        scope.require(team, no_run(team, dag_id, run_id))
        run = self._shown.run(self._store.get_run(team, dag_id, run_id))
        spec = self._store.specs_of([run.version_id]).get(run.version_id)
        latest = self._store.get_dag(team, dag_id).spec
        rows = grids.select_rows(latest, wanted)
        return grids.column(run, rows, spec, None)

    def run(self, scope: Scope, team: str, dag_id: str, run_id: str) -> RunView:
        scope.require(team, no_run(team, dag_id, run_id))
        run = self._shown.run(in_dag_order(self._store, self._store.get_run(team, dag_id, run_id)))
        run = replace(run, note=self._store.run_note(run.id))
        found = self._store.get_specs([run.version_id]).get(run.version_id)
        return RunView(run, found[0] if found else None, self._store.run_attempts(run.id))

    def structure(self, scope: Scope, team: str, dag_id: str, commit: str) -> dict[str, Any]:
        """The structure of the DAG at a commit (the current one when `commit` is empty)."""
        scope.require(team, no_dag(team, dag_id))
        if commit:
            version_id, _ = self._store.version_at(team, dag_id, commit)
        else:
            version_id = self._store.get_dag(team, dag_id).version_id
        spec = self._store.version_spec(version_id)
        return structure.structure(spec)

    def latest_spec(self, scope: Scope, team: str, dag_id: str) -> DagSpec:
        scope.require(team, no_dag(team, dag_id))
        return self._shown.dag(self._store.get_dag(team, dag_id)).spec


def require_task(view: RunView, task_id: str) -> None:
    if task_id not in view.run.tasks:
        raise NotFound(f"run {view.run.run_id} has no task {task_id!r}")
