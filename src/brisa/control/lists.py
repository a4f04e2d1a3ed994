"""The reads behind the lists across DAGs — DAG list, runs, task instances, import errors, the
Overview's counts and the jump box — for one caller's scope (`Queries.lists`). Each costs a
fixed number of statements, whatever the number of DAGs or runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from brisa.control import dag_list, import_errors, search
from brisa.control.dag_list import DagPage, DagQuery, DagRow
from brisa.control.queries import Clock, DagSummary, Scope, no_dag, no_run, summarize
from brisa.control.redaction import Redaction
from brisa.errors import NotFound
from brisa.store import Store
from brisa.store.daglist import SQL_SORTS, DagFilter, ListedDag
from brisa.store.listing import Counts, RunFilter
from brisa.store.listing import RunBrief as RunBrief  # what the edges render
from brisa.store.listing import TaskBrief as TaskBrief

WAITING = timedelta(minutes=10)  # a queued attempt older than this is "waiting" (Overview)
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Activity:
    """The Overview's counts, for the visible teams."""

    counts: Counts
    since: datetime  # failed runs are those of a logical date after this
    waiting_since: datetime  # waiting attempts were queued before this
    last_parse: datetime | None  # the newest DAG parse the store records


def dag_url(team: str, dag_id: str) -> str:
    return f"/teams/{quote(team, safe='')}/dags/{quote(dag_id, safe='')}"


def run_url(run: RunBrief) -> str:
    return f"{dag_url(run.team, run.dag_id)}/runs/{quote(run.run_id, safe='')}"


class Lists:
    def __init__(self, store: Store, clock: Clock, shown: Redaction) -> None:
        self._store = store
        self._clock = clock
        self._shown = shown

    def _rows(
        self, scope: Scope, team: str | None, dag_id: str | None = None, *, next_runs: bool
    ) -> list[DagRow]:
        """Every visible DAG's row without its recent runs, and without its next run unless
        `next_runs` (a cron computation per DAG: only the page needs it, unless sorting by
        it). What is shown of a DAG is redacted on the page's rows (`_complete`)."""
        if team is not None and not scope.sees(team):
            return []
        visible = [d for d in self._store.active_dags(team, dag_id) if scope.sees(d.team)]
        last = self._store.last_runs(scope.teams)
        errors = {(e.team, e.repo, e.filename) for e in self._store.list_import_errors(team)}
        summaries = (
            summarize(self._store, visible, self._clock())
            if next_runs
            else [DagSummary(d, None) for d in visible]
        )
        return [_row(s, last.get(_key(s)), _file_of(s) in errors) for s in summaries]

    def _complete(self, rows: list[DagRow], next_runs: bool) -> list[DagRow]:
        """The page's rows, redacted, with their recent runs (one statement) and next runs."""
        recent = self._store.recent_runs([_key(r.summary) for r in rows], dag_list.RECENT)
        records = [self._shown.dag(r.summary.record) for r in rows]
        newest = self._store.newest_scheduled([_key(r.summary) for r in rows]) if next_runs else {}
        summaries = (
            summarize(self._store, records, self._clock(), newest)
            if next_runs
            else [DagSummary(d, r.summary.next_run) for d, r in zip(records, rows, strict=True)]
        )
        return [
            replace(r, summary=s, recent=list(reversed(recent.get(_key(s), []))))
            for r, s in zip(rows, summaries, strict=True)
        ]

    def dags(self, scope: Scope, query: DagQuery) -> DagPage:
        """One page of the DAG list, its tab counts and the cursor of the next page: filtered,
        counted, sorted and paged in the database (4 statements whatever the number of
        DAGs), except by next run, a cron computation per DAG done here over every DAG."""
        query = dag_list.check(query)
        if query.sort not in SQL_SORTS:
            rows = self._rows(scope, query.team, query.dag_id, next_runs=True)
            page = dag_list.select(rows, query)
            return replace(page, rows=self._complete(page.rows, False))
        wanted = dag_list.dag_filter(query, scope.teams)
        after = dag_list.sql_cursor(query.sort, query.after) if query.after else None
        found = self._store.dag_page(wanted, query.sort, after, query.limit + 1)
        counts = self._store.dag_tabs(wanted)
        shown = found[: query.limit]
        more = len(found) > query.limit
        cursor = dag_list.encode_cursor(shown[-1].sort_key(query.sort)) if more else None
        return DagPage(self._complete(_listed_rows(shown), True), counts.total, counts.tabs, cursor)

    def dag_count(self, scope: Scope, query: DagQuery) -> int:
        """How many DAGs match `query`'s filters (the "N new" bar's count): one counting
        statement, no page, no summaries, whatever the sort."""
        query = dag_list.check(query)
        return self._store.dag_tabs(dag_list.dag_filter(query, scope.teams)).total

    def dag_row(self, scope: Scope, team: str, dag_id: str) -> DagRow:
        """One row of the DAG list (the row fragment); NotFound like the DAG page."""
        scope.require(team, no_dag(team, dag_id))
        self._store.get_dag(team, dag_id)  # NotFound in the store's words
        wanted = DagFilter(teams=scope.teams, team=team, dag_id=dag_id)
        return self._complete(_listed_rows(self._store.dag_page(wanted, "name", None, 1)), True)[0]

    def tags(self, scope: Scope, prefix: str, *, team: str | None = None) -> list[str]:
        """Tags of the visible DAGs that start with (then contain) `prefix` (one statement
        over the tags of the active DAGs)."""
        found = self._store.tag_names(scope.teams, team, prefix)
        return dag_list.tag_choices([found], prefix)

    def owners(self, scope: Scope, prefix: str, *, team: str | None = None) -> list[str]:
        """Owners of the visible DAGs that start with (then contain) `prefix` (one statement
        over the owners of the active DAGs)."""
        found = self._store.owner_names(scope.teams, team, prefix)
        return dag_list.tag_choices([found], prefix)

    def runs(self, scope: Scope, params: Mapping[str, str]) -> search.Found[RunBrief]:
        limit = search.limit_of(params)
        found = self._store.search_runs(search.run_filter(params, scope.teams), limit + 1)
        return search.page_of(found, limit, search.run_cursor(found, limit))

    def run_row(self, scope: Scope, team: str, dag_id: str, run_id: str) -> RunBrief:
        """One row of the runs list (its live fragment); NotFound like the run page, also for
        a team the caller cannot see."""
        missing = no_run(team, dag_id, run_id)
        scope.require(team, missing)
        wanted = RunFilter(teams=frozenset({team}), dag_id=dag_id, run_id=run_id)
        found = self._store.search_runs(wanted, 1)
        if not found:
            raise NotFound(missing)
        return found[0]

    def tasks(self, scope: Scope, params: Mapping[str, str]) -> search.Found[TaskBrief]:
        limit = search.limit_of(params)
        found = self._store.search_tasks(search.task_filter(params, scope.teams), limit + 1)
        return search.page_of(found, limit, search.task_cursor(found, limit))

    def import_errors(
        self, scope: Scope, *, team: str = "", repo: str = "", q: str = ""
    ) -> list[import_errors.ImportErrorView]:
        if team and not scope.sees(team):
            return []
        found = [e for e in self._store.list_import_errors(team or None) if scope.sees(e.team)]
        return import_errors.view(found, repo=repo, q=q)

    def activity(self, scope: Scope) -> Activity:
        now = self._clock()
        counts = self._store.counts(scope.teams, now - DAY, now - WAITING)
        parsed = [d.last_parsed_at for d in self._store.list_dags() if scope.sees(d.team)]
        return Activity(counts, now - DAY, now - WAITING, max(parsed, default=None))

    def repo_counts(self, scope: Scope) -> dict[str, tuple[int, int]]:
        """Per repository: its active DAGs and its import errors (visible teams only)."""
        counts: dict[str, list[int]] = {}
        for dag in self._store.list_dags():
            if scope.sees(dag.team):
                counts.setdefault(dag.repo, [0, 0])[0] += 1
        for error in self._store.list_import_errors():
            if scope.sees(error.team):
                counts.setdefault(error.repo, [0, 0])[1] += 1
        return {name: (dags, errors) for name, (dags, errors) in counts.items()}

    def jump(self, scope: Scope, q: str) -> str:
        """Where the jump box goes for `q`: `team/dag`, a DAG id, a run id, else the DAG list
        searched for `q`."""
        text = q.strip()
        if not text:
            return "/dags"
        if "/" in text:
            team, dag_id = text.split("/", 1)
            if scope.sees(team) and self._store.list_dags(team, dag_id=dag_id):
                return dag_url(team, dag_id)
        dags = [d for d in self._store.list_dags(dag_id=text) if scope.sees(d.team)]
        if len(dags) == 1:
            return dag_url(dags[0].team, dags[0].dag_id)
        runs = self._store.search_runs(RunFilter(teams=scope.teams, run_id=text), 2)
        if len(runs) == 1:
            return run_url(runs[0])
        if runs:
            return "/runs?" + urlencode({"run": text})
        return "/dags?" + urlencode({"q": text})


def _listed_rows(found: list[ListedDag]) -> list[DagRow]:
    return [
        DagRow(DagSummary(d.record, None), d.last_state, d.last_date, import_error=d.import_error)
        for d in found
    ]


def _key(summary: DagSummary) -> tuple[str, str]:
    return (summary.record.team, summary.record.dag_id)


def _row(summary: DagSummary, last: tuple[str, datetime] | None, failing: bool) -> DagRow:
    state, date = last or ("none", None)
    return DagRow(summary, state, date, import_error=failing)


def _file_of(summary: DagSummary) -> tuple[str, str, str]:
    return (summary.record.team, summary.record.repo, summary.record.fileloc)
