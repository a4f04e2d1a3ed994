"""The DAG list in the database (UI.md A.2.2, A.5): active DAGs filtered by team, text, tag,
last run state, owner, paused and favourites, sorted and paged by keyset, the count of each
quick tab, and the tags and owners the typeaheads offer.

A page is two statements whatever the number of DAGs: its rows (at most `limit` + 1) and the
counts. Each DAG's last run (the newest by logical date) is one probe of `ix_dag_runs_dag`,
its import error one probe of the import errors' key and its tag one probe of
`ix_dag_tags_tag`, all inside the statement: no catalog-wide read reaches Python. Sorting by
next run (a cron computation per DAG) is not done here (`control.lists` sorts those in memory).

Names sort by code point on both backends (`COLLATE "C"` on PostgreSQL, whose default
collation would order `_` and `-` differently), so both order pages as the in-memory sort
does. Text is matched case-insensitively with SQL's `lower`, which on SQLite folds ASCII only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from brisa.core.records import DagRecord
from brisa.store.catalog import SpecCache
from brisa.store.listing import dag_record
from brisa.store.tables import dag_runs, dag_tags, dag_versions, dags, import_errors

SQL_SORTS = ("name", "-last_run", "last_state")
# `last_state` sorting: what needs attention first (control.dag_list's order).
STATE_RANK = {"failed": 0, "running": 1, "queued": 2, "cancelled": 3, "success": 4, "none": 5}
OTHER_RANK = 9
TABS = ("all", "running", "failed", "paused", "favourites")

SortKey = tuple[Any, ...]


@dataclass(frozen=True)
class DagFilter:
    teams: frozenset[str] | None = None  # the visible teams; None: every team
    team: str | None = None
    dag_id: str | None = None  # exactly this id
    q: str = ""  # in the id, `team/id` or the description, any case
    tag: str = ""
    owner: str = ""
    state: str = ""  # the last run's state; "none": no run yet
    paused: bool | None = None
    starred: frozenset[tuple[str, str]] = frozenset()  # the (team, dag_id) of the favourites
    favourite: bool = False  # only the starred DAGs


@dataclass(frozen=True)
class ListedDag:
    record: DagRecord
    last_state: str  # of the newest run by logical date; "none" before the first
    last_date: datetime | None
    import_error: bool  # its file fails to import (in its repository)

    def sort_key(self, sort: str) -> SortKey:
        """The keyset position of this row in `sort` (what a cursor holds)."""
        record = self.record
        if sort == "-last_run":
            first: Any = self.last_date.isoformat() if self.last_date else None
        elif sort == "last_state":
            first = STATE_RANK.get(self.last_state, OTHER_RANK)
        else:
            first = record.dag_id.lower()
        return (first, record.dag_id, record.team)


@dataclass(frozen=True)
class TabCounts:
    tabs: dict[str, int]  # per quick tab, over the DAGs matching text and tag
    total: int  # DAGs matching every filter


_last = dag_runs.alias("last_run")
_NEWEST = (
    sa.select(dag_runs.c.id)
    .where(dag_runs.c.team == dags.c.team, dag_runs.c.dag_id == dags.c.dag_id)
    .order_by(dag_runs.c.logical_date.desc())  # index order: one probe, no sort
    .limit(1)
    .correlate(dags)
    .scalar_subquery()
)
_last_state = sa.func.coalesce(_last.c.state, "none")
_FAILING = sa.exists().where(
    import_errors.c.team == dags.c.team,
    import_errors.c.repo == dags.c.repo,
    import_errors.c.filename == dags.c.fileloc,
)
_FROM = dags.join(dag_versions, dag_versions.c.id == dags.c.version_id).outerjoin(
    _last, _last.c.id == _NEWEST
)
_state_rank = sa.case(
    *((_last_state == state, rank) for state, rank in STATE_RANK.items()), else_=OTHER_RANK
)


def _text_where(f: DagFilter) -> list[Any]:
    """Which DAGs the tabs count: visible, active, of the team, matching text and tag."""
    where: list[Any] = [dags.c.is_active.is_(True)]
    if f.teams is not None:
        where.append(dags.c.team.in_(sorted(f.teams)))
    if f.team is not None:
        where.append(dags.c.team == f.team)
    if f.dag_id is not None:
        where.append(dags.c.dag_id == f.dag_id)
    if f.tag:
        tagged = sa.select(dag_tags.c.version_id).where(dag_tags.c.tag == f.tag)
        where.append(dags.c.version_id.in_(tagged))
    if f.owner:
        where.append(dag_versions.c.owner == f.owner)
    if f.q:
        description = dag_versions.c.spec["description"].as_string()
        where.append(
            sa.or_(
                *(
                    text.icontains(f.q, autoescape=True)
                    for text in (dags.c.dag_id, dags.c.team + "/" + dags.c.dag_id, description)
                )
            )
        )
    return where


def _starred(f: DagFilter) -> Any:
    """The DAGs of `f.starred` (at most a cookie's worth of keys)."""
    if not f.starred:
        return sa.false()
    return sa.tuple_(dags.c.team, dags.c.dag_id).in_(sorted(f.starred))


def _state_where(f: DagFilter) -> Any:
    """The filters the tabs do not count by: the last run's state, paused and favourite."""
    where: list[Any] = []
    if f.favourite:
        where.append(_starred(f))
    if f.state:
        where.append(_last_state == f.state)
    if f.paused is not None:
        where.append(dags.c.is_paused.is_(f.paused))
    return sa.and_(sa.true(), *where)


class DagListStore:
    engine: sa.Engine
    specs: SpecCache

    def _names(self, *columns: Any) -> list[Any]:
        """`columns` ordered by code point on every backend."""
        if self.engine.dialect.name == "postgresql":
            return [sa.collate(c, "C") for c in columns]
        return list(columns)

    def _order(self, sort: str) -> list[Any]:
        dag_id, team = self._names(dags.c.dag_id, dags.c.team)
        if sort == "-last_run":
            return [_last.c.logical_date.is_(None), _last.c.logical_date.desc(), dag_id, team]
        if sort == "last_state":
            return [_state_rank, dag_id, team]
        return [*self._names(sa.func.lower(dags.c.dag_id)), dag_id, team]

    def _after(self, sort: str, after: SortKey) -> Any:
        """The rows that come after the keyset position `after` in `sort`."""
        first, dag_id, team = after
        names = sa.tuple_(*self._names(dags.c.dag_id, dags.c.team))
        later = names > sa.tuple_(sa.literal(dag_id), sa.literal(team))
        if sort == "-last_run":
            date = _last.c.logical_date
            if first is None:  # among the DAGs without runs, which come last
                return sa.and_(date.is_(None), later)
            at = datetime.fromisoformat(first)
            return sa.or_(date < at, sa.and_(date == at, later), date.is_(None))
        head = _state_rank if sort == "last_state" else self._names(sa.func.lower(dags.c.dag_id))[0]
        return sa.or_(head > first, sa.and_(head == first, later))

    def dag_page(
        self, f: DagFilter, sort: str, after: SortKey | None, limit: int
    ) -> list[ListedDag]:
        """At most `limit` DAGs matching `f`, in `sort` order (one of `SQL_SORTS`), after the
        keyset position `after` (one statement; specs from the cache, read if missing)."""
        query = (
            sa.select(
                dags,
                dag_versions.c.structure_hash,
                _last_state.label("last_state"),
                _last.c.logical_date.label("last_date"),
                _FAILING.label("import_error"),
            )
            .select_from(_FROM)
            .where(*_text_where(f), _state_where(f))
            .order_by(*self._order(sort))
            .limit(limit)
        )
        if after is not None:
            query = query.where(self._after(sort, after))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
            missing = {r.version_id for r in rows if self.specs.known(r.version_id) is None}
            if missing:
                specs = sa.select(dag_versions.c.id, dag_versions.c.spec)
                for found in conn.execute(specs.where(dag_versions.c.id.in_(sorted(missing)))):
                    self.specs.get(found.id, found.spec)
        return [_listed(row, self.specs) for row in rows]

    def dag_tabs(self, f: DagFilter) -> TabCounts:
        """How many DAGs each quick tab holds (matching text and tag) and how many match every
        filter of `f` (one statement)."""

        def count(condition: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

        query = (
            sa.select(
                sa.func.count(),
                count(_last_state == "running"),
                count(_last_state == "failed"),
                count(dags.c.is_paused.is_(True)),
                count(_starred(f)),
                count(_state_where(f)),
            )
            .select_from(_FROM)
            .where(*_text_where(f))
        )
        with self.engine.connect() as conn:
            every, running, failed, paused, starred, total = conn.execute(query).one()
        tabs = dict(zip(TABS, (every, running, failed, paused, starred), strict=True))
        return TabCounts({k: int(v) for k, v in tabs.items()}, int(total))

    def tag_names(
        self, teams: frozenset[str] | None, team: str | None, containing: str
    ) -> list[str]:
        """The distinct tags of the active DAGs (of `teams`, of `team`) that contain
        `containing`, any case: one statement over the tags, whatever the number of DAGs."""
        where: list[Any] = [dags.c.is_active.is_(True)]
        if teams is not None:
            where.append(dags.c.team.in_(sorted(teams)))
        if team is not None:
            where.append(dags.c.team == team)
        if containing:
            where.append(dag_tags.c.tag.icontains(containing, autoescape=True))
        query = (
            sa.select(dag_tags.c.tag)
            .distinct()
            .select_from(dag_tags.join(dags, dags.c.version_id == dag_tags.c.version_id))
            .where(*where)
        )
        with self.engine.connect() as conn:
            return [tag for (tag,) in conn.execute(query)]

    def owner_names(
        self, teams: frozenset[str] | None, team: str | None, containing: str
    ) -> list[str]:
        """The distinct owners of the active DAGs (of `teams`, of `team`) that contain
        `containing`, any case: one statement, whatever the number of DAGs."""
        where: list[Any] = [dags.c.is_active.is_(True), dag_versions.c.owner.is_not(None)]
        if teams is not None:
            where.append(dags.c.team.in_(sorted(teams)))
        if team is not None:
            where.append(dags.c.team == team)
        if containing:
            where.append(dag_versions.c.owner.icontains(containing, autoescape=True))
        query = (
            sa.select(dag_versions.c.owner)
            .distinct()
            .select_from(dags.join(dag_versions, dag_versions.c.id == dags.c.version_id))
            .where(*where)
        )
        with self.engine.connect() as conn:
            return [owner for (owner,) in conn.execute(query)]


def _listed(row: Any, specs: SpecCache) -> ListedDag:
    record = dag_record(row, specs)
    return ListedDag(record, row.last_state, row.last_date, bool(row.import_error))
