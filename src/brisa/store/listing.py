"""Reads for lists across DAGs: the last and recent runs of many DAGs at once, runs and task
instances filtered and paged by keyset, and the counts of the Overview. Each is one statement
whatever the number of DAGs, so that a page of a list costs the same at 10 DAGs as at 1,000."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from brisa.core.records import DagRecord
from brisa.core.states import RunState, TaskState
from brisa.store.catalog import SpecCache
from brisa.store.tables import UtcDateTime, dag_runs, dag_versions, dags, task_instances

DagKey = tuple[str, str]


@dataclass(frozen=True)
class RunBrief:
    """What a list shows of a run: no conf, no tasks."""

    id: int
    team: str
    dag_id: str
    run_id: str
    run_type: str
    state: str
    logical_date: datetime
    start_date: datetime | None
    end_date: datetime | None
    code_version: str


@dataclass(frozen=True)
class RunFilter:
    teams: frozenset[str] | None = None  # None: every team
    dag_id: str | None = None
    run_id: str | None = None
    states: tuple[str, ...] = ()
    run_type: str | None = None
    since: datetime | None = None  # logical date at or after
    until: datetime | None = None  # logical date before
    before_id: int | None = None  # keyset: runs with a smaller id (newest first)


@dataclass(frozen=True)
class TaskFilter:
    teams: frozenset[str] | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    states: tuple[str, ...] = ()
    try_gt: int | None = None
    queued_before: datetime | None = None
    before_id: int | None = None  # keyset: task instances with a smaller id


@dataclass(frozen=True)
class TaskBrief:
    id: int
    task_id: str
    state: str
    try_number: int
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None
    run: RunBrief


@dataclass(frozen=True)
class Counts:
    failed_runs: int
    running_runs: int
    queued_tasks: int
    waiting_tasks: int


_BRIEF = [dag_runs.c[name] for name in RunBrief.__dataclass_fields__]


def _brief(row: Any) -> RunBrief:
    return RunBrief(**{name: getattr(row, name) for name in RunBrief.__dataclass_fields__})


_EARLIEST = sa.literal(datetime(1, 1, 1, tzinfo=UTC), UtcDateTime())


def _among(keys: Collection[DagKey]) -> Any:
    """The `dags` rows of `keys` (one expanding parameter: the statement's shape, and so its
    compiled form, is the same for any number of keys)."""
    return sa.tuple_(dags.c.team, dags.c.dag_id).in_(sorted(keys))


def _in_teams(column: Any, teams: frozenset[str] | None) -> Any:
    return sa.true() if teams is None else column.in_(sorted(teams))


def _run_where(f: RunFilter) -> list[Any]:
    c = dag_runs.c
    where = [_in_teams(c.team, f.teams)]
    if f.dag_id:
        where.append(c.dag_id == f.dag_id)
    if f.run_id:
        where.append(c.run_id == f.run_id)
    if f.states:
        where.append(c.state.in_(f.states))
    if f.run_type:
        where.append(c.run_type == f.run_type)
    if f.since:
        where.append(c.logical_date >= f.since)
    if f.until:
        where.append(c.logical_date < f.until)
    if f.before_id is not None:
        where.append(c.id < f.before_id)
    return where


def _task_where(f: TaskFilter) -> list[Any]:
    t, r = task_instances.c, dag_runs.c
    where = [_in_teams(r.team, f.teams)]
    for column, value in ((r.dag_id, f.dag_id), (r.run_id, f.run_id), (t.task_id, f.task_id)):
        if value:
            where.append(column == value)
    if f.states:
        where.append(t.state.in_(f.states))
    if f.try_gt is not None:
        where.append(t.try_number > f.try_gt)
    if f.queued_before is not None:
        where.append(t.queued_at < f.queued_before)
    if f.before_id is not None:
        where.append(t.id < f.before_id)
    return where


class ListingStore:
    engine: sa.Engine
    specs: SpecCache

    def active_dags(self, team: str | None = None, dag_id: str | None = None) -> list[DagRecord]:
        """Active DAGs, by team and id, reading a spec's JSON only when the cache lacks it
        (a list of 1,000 DAGs then decodes no JSON at all)."""
        query = (
            sa.select(dags, dag_versions.c.structure_hash)
            .join(dag_versions, dag_versions.c.id == dags.c.version_id)
            .where(dags.c.is_active.is_(True))
            .order_by(dags.c.team, dags.c.dag_id)
        )
        if team is not None:
            query = query.where(dags.c.team == team)
        if dag_id is not None:
            query = query.where(dags.c.dag_id == dag_id)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
            missing = {r.version_id for r in rows if self.specs.known(r.version_id) is None}
            if missing:
                specs = sa.select(dag_versions.c.id, dag_versions.c.spec)
                for found in conn.execute(specs.where(dag_versions.c.id.in_(sorted(missing)))):
                    self.specs.get(found.id, found.spec)
        return [dag_record(row, self.specs) for row in rows]  # every spec is cached now

    def last_runs(self, teams: frozenset[str] | None = None) -> dict[DagKey, tuple[str, datetime]]:
        """The state and logical date of the newest run of every active DAG that has one: one
        statement, one index probe per DAG, two values a DAG (what filters and sorts need)."""
        newest = (
            sa.select(dag_runs.c.id)
            .where(dag_runs.c.team == dags.c.team, dag_runs.c.dag_id == dags.c.dag_id)
            .order_by(dag_runs.c.logical_date.desc())  # in index order: one probe, no sort
            .limit(1)
            .correlate(dags)
            .scalar_subquery()
        )
        ids = sa.select(newest).where(dags.c.is_active.is_(True), _in_teams(dags.c.team, teams))
        c = dag_runs.c
        query = sa.select(c.team, c.dag_id, c.state, c.logical_date).where(c.id.in_(ids))
        with self.engine.connect() as conn:
            return {(r.team, r.dag_id): (r.state, r.logical_date) for r in conn.execute(query)}

    def recent_runs(self, keys: Collection[DagKey], per_dag: int) -> dict[DagKey, list[RunBrief]]:
        """The newest `per_dag` runs of each DAG in `keys`, newest first, in one statement of
        the same shape for any number of DAGs: per DAG, one probe of `ix_dag_runs_dag` finds
        the `per_dag`-th newest logical date, then one index range reads the runs from there
        (no scan of other DAGs' runs, nor of a DAG's older runs)."""
        if not keys or per_dag < 1:
            return {}
        older = dag_runs.alias("older")
        cutoff = (
            sa.select(older.c.logical_date)
            .where(older.c.team == dags.c.team, older.c.dag_id == dags.c.dag_id)
            .order_by(older.c.logical_date.desc())
            .limit(1)
            .offset(per_dag - 1)
            .correlate(dags)
            .scalar_subquery()
        )
        # The DAGs with the date their shown runs start from. The LIMIT keeps SQLite from
        # flattening this into the join, which it would then drive by scanning every run.
        since = (
            sa.select(dags.c.team, dags.c.dag_id, sa.func.coalesce(cutoff, _EARLIEST).label("at"))
            .where(_among(keys))
            .limit(len(keys))
            .subquery("since")
        )
        c = dag_runs.c
        joined = since.join(
            dag_runs,
            sa.and_(
                c.team == since.c.team, c.dag_id == since.c.dag_id, c.logical_date >= since.c.at
            ),
        )
        query = sa.select(*_BRIEF).select_from(joined)
        found: dict[DagKey, list[RunBrief]] = defaultdict(list)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                brief = RunBrief(*row)  # the columns of _BRIEF, in its fields' order
                found[(brief.team, brief.dag_id)].append(brief)
        for runs in found.values():  # rows come in no set order; ties may add a few
            runs.sort(key=lambda r: (r.logical_date, r.id), reverse=True)
            del runs[per_dag:]
        return dict(found)

    def newest_scheduled(self, keys: Collection[DagKey]) -> dict[DagKey, datetime]:
        """The newest scheduled logical date of each DAG in `keys` that has one (what its next
        run follows): one statement, a walk down `ix_dag_runs_dag` per DAG."""
        if not keys:
            return {}
        c = dag_runs.c
        newest = (
            sa.select(c.logical_date)
            .where(c.team == dags.c.team, c.dag_id == dags.c.dag_id, c.run_type == "scheduled")
            .order_by(c.logical_date.desc())
            .limit(1)
            .correlate(dags)
            .scalar_subquery()
        )
        query = sa.select(dags.c.team, dags.c.dag_id, newest.label("newest")).where(_among(keys))
        with self.engine.connect() as conn:
            return {
                (r.team, r.dag_id): r.newest for r in conn.execute(query) if r.newest is not None
            }

    def search_runs(self, f: RunFilter, limit: int) -> list[RunBrief]:
        """Runs of every DAG matching `f`, newest first (by id), at most `limit`."""
        query = sa.select(*_BRIEF).where(*_run_where(f)).order_by(dag_runs.c.id.desc())
        with self.engine.connect() as conn:
            return [RunBrief(*row) for row in conn.execute(query.limit(limit))]

    def search_tasks(self, f: TaskFilter, limit: int) -> list[TaskBrief]:
        """Task instances of every run matching `f`, newest first (by id), at most `limit`."""
        t = task_instances.c
        columns = [t.id.label("ti_pk"), t.task_id, t.state.label("ti_state"), t.try_number]
        columns += [t.queued_at, t.start_date.label("ti_start"), t.end_date.label("ti_end")]
        columns += [t.hostname]
        query = (
            sa.select(*columns, *_BRIEF)
            .join(dag_runs, dag_runs.c.id == t.run_pk)
            .where(*_task_where(f))
            .order_by(t.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_task_brief(row) for row in conn.execute(query)]

    def counts(self, teams: frozenset[str] | None, since: datetime, waiting: datetime) -> Counts:
        """Failed runs of logical date `since` or later, running runs, queued task instances,
        and those queued before `waiting` (one statement)."""
        r, t = dag_runs.c, task_instances.c
        in_runs = _in_teams(r.team, teams)
        failed = sa.select(sa.func.count()).where(
            in_runs, r.state == RunState.FAILED.value, r.logical_date >= since
        )
        running = sa.select(sa.func.count()).where(in_runs, r.state == RunState.RUNNING.value)
        queued = (
            sa.select(sa.func.count())
            .select_from(task_instances.join(dag_runs, r.id == t.run_pk))
            .where(in_runs, t.state == TaskState.QUEUED.value)
        )
        old = queued.where(t.queued_at < waiting)
        query = sa.select(
            failed.scalar_subquery(),
            running.scalar_subquery(),
            queued.scalar_subquery(),
            old.scalar_subquery(),
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return Counts(*(int(value or 0) for value in row))


def dag_record(row: Any, specs: SpecCache) -> DagRecord:
    """A DAG's record from a row of `dags` joined with its version (whose spec `specs` has
    read just before)."""
    spec = specs.known(row.version_id)
    assert spec is not None  # read into the cache just before
    return DagRecord(
        team=row.team,
        dag_id=row.dag_id,
        fileloc=row.fileloc,
        version_id=row.version_id,
        is_active=row.is_active,
        is_paused=row.is_paused,
        last_parsed_at=row.last_parsed_at,
        spec=spec,
        code_version=row.code_version,
        structure_hash=row.structure_hash,
        repo=row.repo,
    )


def _task_brief(row: Any) -> TaskBrief:
    return TaskBrief(
        id=row.ti_pk,
        task_id=row.task_id,
        state=row.ti_state,
        try_number=row.try_number,
        queued_at=row.queued_at,
        start_date=row.ti_start,
        end_date=row.ti_end,
        hostname=row.hostname,
        run=_brief(row),
    )
