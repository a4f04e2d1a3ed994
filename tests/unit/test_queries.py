"""Team scope: the one visibility rule, and queries and commands that refuse an invisible team
as if what was asked for did not exist, without asking the store about it."""

from __future__ import annotations

from typing import Any, cast

import pytest
from planner_builders import T0, build_spec, dag_record

from brisa.control.commands import Commands
from brisa.control.queries import (
    EVERY_TEAM,
    Queries,
    Scope,
    no_dag,
    no_run,
)
from brisa.core.records import DagRecord, ImportErrorRecord, RepoStatusRecord
from brisa.errors import NotFound
from brisa.objectstore import ObjectStore
from brisa.repos.config import RepoSettings
from brisa.store import Store

ONLY_DATA = Scope(frozenset({"data"}))


class Untouchable:
    """A store no query may ask anything: the scope must refuse first."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was asked {name} for a team the caller cannot see")


class AuditOnly(Untouchable):
    """A store that may only append to the audit record (what a visible action writes)."""

    def __init__(self) -> None:
        self.audited: list[dict[str, Any]] = []

    def record_audit(self, **entry: Any) -> int:
        self.audited.append(entry)
        return len(self.audited)


class TwoTeams:
    """A store holding one DAG, one import error and one repository for each of two teams."""

    def __init__(self) -> None:
        self.dags = [dag_record(build_spec("etl"), team=t) for t in ("data", "ops")]

    def list_dags(self, team: str | None = None, *, dag_id: str | None = None) -> list[DagRecord]:
        return [d for d in self.dags if team in (None, d.team) and dag_id in (None, d.dag_id)]

    def get_dag(self, team: str, dag_id: str) -> DagRecord:
        found = self.list_dags(team, dag_id=dag_id)
        if not found:
            raise NotFound(no_dag(team, dag_id))
        return found[0]

    def schedule_state(self) -> dict[tuple[str, str], tuple[Any, int]]:
        return {}

    def list_import_errors(self, team: str | None = None) -> list[ImportErrorRecord]:
        return [
            ImportErrorRecord(t, "broken.py", 1, "SyntaxError", "", T0)
            for t in ("data", "ops")
            if team in (None, t)
        ]

    def list_repos(self) -> list[RepoStatusRecord]:
        return [
            RepoStatusRecord(name, team, "", "abc", T0, T0, T0, None, None, 0, None)
            for name, team in (("data-dags", "data"), ("ops-dags", "ops"))
        ]

    def get_repo(self, name: str) -> RepoStatusRecord:
        return next(r for r in self.list_repos() if r.name == name)


SOURCES = (
    RepoSettings(name="data-dags", url="https://git.example/data.git", team="data"),
    RepoSettings(name="ops-dags", url="https://git.example/ops.git", team="ops"),
)


def queries(store: object) -> Queries:
    return Queries(cast(Store, store), cast(ObjectStore, None), lambda: T0, sources=SOURCES)


def commands(store: object, wakes: list[str]) -> Commands:
    return Commands(
        cast(Store, store),
        lambda: T0,
        wake=lambda: wakes.append("wake"),
        sources=SOURCES,
        request_sync=wakes.append,
    )


def test_every_team_sees_every_team() -> None:
    assert EVERY_TEAM.sees("data") and EVERY_TEAM.sees("ops") and EVERY_TEAM.sees("")
    EVERY_TEAM.require("anything", "not raised")


def test_a_set_scope_sees_only_its_teams() -> None:
    assert ONLY_DATA.sees("data")
    assert not ONLY_DATA.sees("ops")
    assert not Scope(frozenset()).sees("data")
    ONLY_DATA.require("data", "not raised")
    with pytest.raises(NotFound, match=r"^no such thing$"):
        ONLY_DATA.require("ops", "no such thing")


def test_reads_of_an_invisible_team_are_refused_before_the_store_is_asked() -> None:
    q = queries(Untouchable())
    with pytest.raises(NotFound) as dag:
        q.dag(ONLY_DATA, "ops", "etl")
    assert str(dag.value) == no_dag("ops", "etl")
    with pytest.raises(NotFound, match=r"no DAG ops/etl"):
        q.runs(ONLY_DATA, "ops", "etl")
    with pytest.raises(NotFound, match=r"no DAG ops/etl"):
        q.resolve_dag(ONLY_DATA, "ops/etl")
    for read in (
        lambda: q.run(ONLY_DATA, "ops", "etl", "manual__1"),
        lambda: q.task(ONLY_DATA, "ops", "etl", "manual__1", "a"),
        lambda: q.log_page(ONLY_DATA, "ops", "etl", "manual__1", "a", try_number=1, offset=0),
        lambda: q.log_follower(
            ONLY_DATA, "ops", "etl", "manual__1", "a", try_number=None, offset=0
        ),
    ):
        with pytest.raises(NotFound) as run:
            read()
        assert str(run.value) == no_run("ops", "etl", "manual__1")


def test_an_invisible_dag_reads_like_a_missing_one() -> None:
    store = TwoTeams()
    with pytest.raises(NotFound) as invisible:
        queries(store).dag(ONLY_DATA, "ops", "etl")
    with pytest.raises(NotFound) as missing:
        queries(store).dag(ONLY_DATA, "data", "nope")
    assert str(invisible.value) == no_dag("ops", "etl")
    assert str(missing.value) == no_dag("data", "nope")
    assert queries(store).dag(ONLY_DATA, "data", "etl").record.team == "data"


def test_lists_leave_out_invisible_teams() -> None:
    q = queries(TwoTeams())
    assert [d.record.team for d in q.dags(EVERY_TEAM)] == ["data", "ops"]
    assert [d.record.team for d in q.dags(ONLY_DATA)] == ["data"]
    assert q.dags(ONLY_DATA, team="ops") == []  # as for a team that does not exist
    assert [e.team for e in q.import_errors(ONLY_DATA)] == ["data"]
    assert [r.source.name for r in q.repos(ONLY_DATA)] == ["data-dags"]
    assert [r.source.name for r in q.repos(EVERY_TEAM)] == ["data-dags", "ops-dags"]


def test_a_bare_dag_id_resolves_among_visible_teams_only() -> None:
    q = queries(TwoTeams())
    assert q.resolve_dag(ONLY_DATA, "etl").team == "data"
    with pytest.raises(Exception, match="exists in several teams"):
        q.resolve_dag(EVERY_TEAM, "etl")


def test_an_invisible_repository_reads_like_an_unconfigured_one() -> None:
    q = queries(TwoTeams())
    with pytest.raises(NotFound) as invisible:
        q.repo(ONLY_DATA, "ops-dags")
    with pytest.raises(NotFound) as missing:
        q.repo(ONLY_DATA, "nope")
    assert "(configured: data-dags)" in str(invisible.value)
    assert str(invisible.value).replace("ops-dags", "nope") == str(missing.value)
    assert q.repo(ONLY_DATA, "data-dags").status is not None


def test_commands_on_an_invisible_team_change_nothing_and_wake_no_one() -> None:
    wakes: list[str] = []
    store = AuditOnly()
    c = commands(store, wakes)
    with pytest.raises(NotFound, match=r"^no DAG ops/etl"):
        c.trigger(ONLY_DATA, "ops", "etl", conf=None)
    with pytest.raises(NotFound, match=r"^no DAG ops/etl"):
        c.pause(ONLY_DATA, "ops", "etl", True)
    with pytest.raises(NotFound, match=r"^no run 'r' of ops/etl"):
        c.cancel(ONLY_DATA, "ops", "etl", "r")
    with pytest.raises(NotFound, match=r"^no run 'r' of ops/etl"):
        c.clear(ONLY_DATA, "ops", "etl", "r", ["a"], downstream=False)
    with pytest.raises(NotFound, match=r"^no run 'r' of ops/etl"):
        c.mark(ONLY_DATA, "ops", "etl", "r", ["a"], "success")
    with pytest.raises(NotFound, match=r"no repository 'ops-dags' is configured"):
        c.request_sync(ONLY_DATA, "ops-dags", b"", {})
    assert wakes == [] and store.audited == []  # refused unseen: not even audited
    assert c.request_sync(ONLY_DATA, "data-dags", b"", {}) == T0
    assert wakes == ["data-dags"]
    assert [(e["action"], e["team"], e["target"], e["outcome"]) for e in store.audited] == [
        ("sync_now", "data", "data-dags", "ok")
    ]


def test_a_sync_is_settled_once_its_new_commit_is_parsed_or_a_minute_passed() -> None:
    from datetime import timedelta

    from brisa.control.queries import RepoView
    from brisa.store.commitparses import CommitParse

    now = [T0 + timedelta(seconds=5)]
    q = Queries(cast(Store, None), cast(ObjectStore, None), lambda: now[0], sources=SOURCES)
    asked = T0

    def view(sha: str, published: timedelta, synced: timedelta | None) -> RepoView:
        status = RepoStatusRecord(
            "data-dags", "data", "", sha, T0 + published,
            T0 + synced if synced is not None else None, None, None, None, 0, None,
        )  # fmt: skip
        return RepoView(SOURCES[0], status)

    parsed = [CommitParse("data-dags", "new", "data", T0, 1)]
    gap = timedelta(seconds=1)
    assert not q.sync_settled(view("new", gap, None), [], asked)  # not synced yet
    assert not q.sync_settled(view("new", gap, gap), [], asked)  # published, not parsed
    assert q.sync_settled(view("new", gap, gap), parsed, asked)
    assert q.sync_settled(view("old", -gap, gap), [], asked)  # nothing new was published
    now[0] = T0 + timedelta(seconds=61)
    assert q.sync_settled(view("new", gap, gap), [], asked)  # the parse never reported
