"""What people read — DAGs, runs, task instances, attempts, logs, import errors, repositories —
filtered by the teams the caller may see. Shared by the REST API, the web UI and the CLI.

What they return is what people may see: secrets redacted (control.redaction).

Every query takes the caller's `Scope`. `Scope.sees` is the one rule that decides whether a
team is visible; a team the caller cannot see looks exactly like a team that does not exist:
its lists are empty and its DAGs and runs are NotFound, worded as the store words a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from brisa.control.redaction import Redaction
from brisa.core import graph, timetable
from brisa.core.records import (
    AttemptRecord,
    DagRecord,
    ImportErrorRecord,
    RepoStatusRecord,
    RunRecord,
    TaskRecord,
)
from brisa.core.states import FINISHED_TASK_STATES, RunState
from brisa.errors import InvalidInput, NotFound
from brisa.logs import tail
from brisa.logs.masking import DEFAULT_ENV_PATTERN
from brisa.objectstore import ObjectStore
from brisa.repos.config import RepoSettings
from brisa.store import Store
from brisa.store.commitparses import CommitParse as CommitParse  # what the edges render

Clock = Callable[[], datetime]

if TYPE_CHECKING:
    from brisa.control.dagview import DagViews


@dataclass(frozen=True)
class Scope:
    """The teams a caller may see and act on: every team (`teams=None`, today's only caller,
    as there are no users yet), or a set of teams once users and teams land. `who`, `address`
    and `via` say who the caller is for the audit record (control.audit): today the API
    itself ("api", the actor the transition record names too), the client's address, and
    whether the call came through the web UI or the REST API."""

    teams: frozenset[str] | None = None
    who: str = "api"
    address: str = ""
    via: str = "rest"

    def sees(self, team: str) -> bool:
        """Whether `team` is visible: the single rule every query, command and page goes by."""
        return self.teams is None or team in self.teams

    def require(self, team: str, missing: str) -> None:
        """NotFound(`missing`) unless `team` is visible, so that a team the caller cannot see
        answers as if what was asked for did not exist."""
        if not self.sees(team):
            raise NotFound(missing)


EVERY_TEAM = Scope()


# The store's own words for what is missing: an invisible team must read the same.
def no_dag(team: str, dag_id: str) -> str:
    return f"no DAG {team}/{dag_id}; `brisa dags list` shows the DAGs there are"


def no_run(team: str, dag_id: str, run_id: str) -> str:
    return f"no run {run_id!r} of {team}/{dag_id}; `brisa runs list {team}/{dag_id}` shows its runs"


@dataclass(frozen=True)
class DagSummary:
    """A DAG with its next scheduled run (None when paused, manual-only or over)."""

    record: DagRecord
    next_run: datetime | None


@dataclass(frozen=True)
class TaskDetail:
    record: TaskRecord
    return_value: Any
    attempts: list[AttemptRecord]


@dataclass(frozen=True)
class RepoView:
    """A DAG source as configured, with what its last sync found (None before the first)."""

    source: RepoSettings
    status: RepoStatusRecord | None


RESOLVED_SHOWN = timedelta(hours=24)  # how long "resolved in <sha>" stays listed
PARSE_WAIT = timedelta(seconds=60)  # how long "Sync now" waits for the new commit's parse


@dataclass(frozen=True)
class Resolved:
    """A file whose import error commit `code_version` resolved, at `at`."""

    team: str
    repo: str
    filename: str
    code_version: str
    at: datetime


def summarize(
    store: Store,
    records: Iterable[DagRecord],
    now: datetime,
    newest: Mapping[tuple[str, str], datetime] | None = None,
) -> list[DagSummary]:
    """DAGs with their next run, from the newest scheduled run of each (`newest` when the
    caller has read it for just these DAGs, else read for every DAG)."""
    if newest is None:
        newest = {key: last for key, (last, _) in store.schedule_state().items() if last}
    out = []
    for record in records:
        spec = record.spec
        last = newest.get((record.team, record.dag_id))
        upcoming = None
        if spec.start_date and not record.is_paused:
            upcoming = timetable.next_fire(
                spec.schedule,
                start=spec.start_date,
                end=spec.end_date,
                last=last,
                now=now,
                catchup=spec.catchup,
            )
        out.append(DagSummary(record, upcoming))
    return out


def find_source(sources: Sequence[RepoSettings], scope: Scope, name: str) -> RepoSettings:
    """A configured DAG source of a visible team, by name."""
    visible = [s for s in sources if scope.sees(s.owner)]
    source = next((s for s in visible if s.name == name), None)
    if source is None:
        known = ", ".join(s.name for s in visible) or "none"
        raise NotFound(
            f"no repository {name!r} is configured (configured: {known}); "
            f"a [repos.{name}] table in the config file adds it"
        )
    return source


def in_dag_order(store: Store, run: RunRecord) -> RunRecord:
    """The run with its tasks in its DAG's order: every task after its upstream tasks, ties
    by id (tasks its DAG version does not know, if any, last by id)."""
    found = store.get_specs([run.version_id]).get(run.version_id)
    upstream = {tid: t.upstream for tid, t in found[0].tasks.items()} if found else {}
    order = [tid for tid in graph.topological_order(upstream) if tid in run.tasks]
    order += sorted(set(run.tasks) - set(order))
    return replace(run, tasks={tid: run.tasks[tid] for tid in order})


def _task_of(run: RunRecord, task_id: str) -> TaskRecord:
    ti = run.tasks.get(task_id)
    if ti is None:
        raise NotFound(f"run {run.run_id} has no task {task_id!r}")
    return ti


def _check_try(ti: TaskRecord, try_number: int) -> int:
    if ti.try_number == 0:
        raise InvalidInput(f"task {ti.task_id} has not run yet ({ti.state}): it has no log")
    if try_number > ti.try_number:
        raise InvalidInput(
            f"task {ti.task_id} has {ti.try_number} tr(ies); ask for try 1..{ti.try_number}"
        )
    return try_number


class Queries:
    """The reads behind the REST API and the web UI, each for one caller's scope."""

    def __init__(
        self,
        store: Store,
        objects: ObjectStore,
        clock: Clock,
        *,
        sources: Sequence[RepoSettings] = (),
        mask_env_pattern: str = DEFAULT_ENV_PATTERN,
    ) -> None:
        self._store = store
        self._objects = objects
        self._clock = clock
        self._sources = tuple(sources)
        self._shown = Redaction(store, mask_env_pattern)
        from brisa.control.history import History  # it builds on this module's Scope
        from brisa.control.lists import Lists  # it builds on this module's summaries
        from brisa.control.pools import Pools  # it builds on this module's Scope

        self.lists = Lists(store, clock, self._shown)
        self.pools = Pools(store, clock, sources=sources)
        self.history = History(store)

    def dag_views(self) -> DagViews:
        """The DAG page's reads (control.dagview)."""
        from brisa.control.dagview import DagViews

        return DagViews(self._store, self._shown, self._clock)

    def database(self) -> str:
        """The database's backend name, once it has answered."""
        self._store.ping()
        return self._store.backend

    # DAGs

    def dags(
        self, scope: Scope, *, team: str | None = None, dag_id: str | None = None
    ) -> list[DagSummary]:
        """Active DAGs of the visible teams (of one team, with one id)."""
        found = [self._shown.dag(d) for d in self._store.list_dags(team, dag_id=dag_id)]
        return summarize(self._store, [d for d in found if scope.sees(d.team)], self._clock())

    def dag(self, scope: Scope, team: str, dag_id: str) -> DagSummary:
        scope.require(team, no_dag(team, dag_id))
        found = self._shown.dag(self._store.get_dag(team, dag_id))
        return summarize(self._store, [found], self._clock())[0]

    def resolve_dag(self, scope: Scope, name: str) -> DagRecord:
        """`team/dag_id`, or a bare dag_id when exactly one visible team has it."""
        if "/" in name:
            team, dag_id = name.split("/", 1)
            scope.require(team, no_dag(team, dag_id))
            return self._store.get_dag(team, dag_id)
        found = [d for d in self._store.list_dags(dag_id=name) if scope.sees(d.team)]
        if not found:
            raise NotFound(f"no DAG {name!r}; `brisa dags list` shows the DAGs there are")
        if len(found) > 1:
            teams = ", ".join(f"{d.team}/{d.dag_id}" for d in found)
            raise InvalidInput(f"DAG id {name!r} exists in several teams ({teams}); name one")
        return found[0]

    def import_errors(self, scope: Scope, *, team: str | None = None) -> list[ImportErrorRecord]:
        return [e for e in self._store.list_import_errors(team) if scope.sees(e.team)]

    # Runs and their tasks

    def runs(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        *,
        limit: int = 50,
        offset: int = 0,
        state: str | None = None,
    ) -> list[RunRecord]:
        """Runs of one DAG, newest logical date first."""
        scope.require(team, no_dag(team, dag_id))
        self._store.get_dag(team, dag_id)
        if state is not None and state not in {s.value for s in RunState}:
            known = ", ".join(s.value for s in RunState)
            raise InvalidInput(f"unknown run state {state!r}; use one of {known}")
        found = self._store.list_runs(team, dag_id, limit=limit, offset=offset, state=state)
        return self._shown.runs(found)

    def run(self, scope: Scope, team: str, dag_id: str, run_id: str) -> RunRecord:
        """One run with its task instances and its note."""
        run = self._run(scope, team, dag_id, run_id)
        return self._shown.run(replace(run, note=self._store.run_note(run.id)))

    def _run(self, scope: Scope, team: str, dag_id: str, run_id: str) -> RunRecord:
        scope.require(team, no_run(team, dag_id, run_id))
        return in_dag_order(self._store, self._store.get_run(team, dag_id, run_id))

    def task(self, scope: Scope, team: str, dag_id: str, run_id: str, task_id: str) -> TaskDetail:
        """One task instance with its return value and every attempt."""
        run = self._run(scope, team, dag_id, run_id)
        ti = _task_of(run, task_id)
        value, attempts = self._store.return_value(ti.id), self._store.list_attempts(ti.id)
        return TaskDetail(*self._shown.task(run, ti, value, attempts))

    # Logs

    def log_page(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int | None,
        offset: int,
    ) -> tail.Page:
        """A page of one try's log (the current try by default) from `offset`."""
        run = self._run(scope, team, dag_id, run_id)
        ti = _task_of(run, task_id)
        if ti.try_number == 0 and try_number is None:  # not started yet: nothing to read
            return tail.Page(0, "", offset, offset, ti.state in FINISHED_TASK_STATES)
        number = _check_try(ti, try_number or ti.try_number)
        return tail.page(self._objects, self._store, run, ti, number, offset, now=self._clock())

    def log_follower(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        run_id: str,
        task_id: str,
        *,
        try_number: int | None,
        offset: int,
    ) -> tail.Follower:
        """Follows one try's log (the current one once it has started) from `offset`."""
        run = self._run(scope, team, dag_id, run_id)
        ti = _task_of(run, task_id)
        if try_number is not None:
            _check_try(ti, try_number)
        return tail.Follower(self._objects, self._store, run, ti, try_number, offset, self._clock)

    # Repositories

    def repos(self, scope: Scope) -> list[RepoView]:
        """Every configured DAG source of a visible team, in configuration order."""
        statuses = {status.name: status for status in self._store.list_repos()}
        return [RepoView(s, statuses.get(s.name)) for s in self._sources if scope.sees(s.owner)]

    def repo_commits(self, scope: Scope, name: str, *, limit: int = 20) -> list[CommitParse]:
        """The newest parsed commits of a visible repository with their parse outcome."""
        find_source(self._sources, scope, name)
        return self._store.commit_parses(name, limit=limit)

    def sync_settled(self, view: RepoView, commits: list[CommitParse], asked: datetime) -> bool:
        """Whether a sync asked for at `asked` is over as people see it: the sync ran, and the
        commit it published (if it published one) is parsed — or PARSE_WAIT has passed, so
        that a parse that never reports does not keep a page waiting."""
        status = view.status
        if status is None or status.last_sync_at is None or status.last_sync_at < asked:
            return False
        published = status.published_at is not None and status.published_at >= asked
        parsed = any(c.code_version == status.current_sha for c in commits)
        return not published or parsed or self._clock() - asked > PARSE_WAIT

    def resolved_import_errors(self, scope: Scope) -> list[Resolved]:
        """Files whose import error a commit of the last 24 hours resolved, newest first, each
        once (its newest resolution), unless the file fails again now."""
        since = self._clock() - RESOLVED_SHOWN
        visible = [s.name for s in self._sources if scope.sees(s.owner)]
        failing = {(e.repo, e.filename) for e in self._store.list_import_errors()}
        seen: set[tuple[str, str]] = set()
        out = []
        for parse in self._store.commit_parses_since(since, visible):
            for file in parse.resolved:
                key = (parse.repo, file)
                if key in seen or key in failing or not scope.sees(parse.team):
                    continue
                seen.add(key)
                out.append(
                    Resolved(parse.team, parse.repo, file, parse.code_version, parse.parsed_at)
                )
        return out

    def repo(self, scope: Scope, name: str) -> RepoView:
        source = find_source(self._sources, scope, name)
        try:
            return RepoView(source, self._store.get_repo(name))
        except NotFound:  # configured, not synced yet
            return RepoView(source, None)
