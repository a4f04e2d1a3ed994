"""The DAG list filtered, counted, sorted and paged in the database (store/daglist.py through
control.lists) gives, on every backend, what the in-memory list gives over every DAG's row
(`dag_list.select`, the reference): the same rows in the same order, page after page, the
same tab counts and totals; and the tag and owner typeaheads list the same values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from test_store import NOW

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.control import dag_list
from brisa.control.dag_list import DagQuery, DagRow
from brisa.control.lists import Lists
from brisa.control.queries import EVERY_TEAM, DagSummary, Scope
from brisa.control.redaction import Redaction
from brisa.core.states import RunState
from brisa.errors import InvalidInput
from brisa.store import Store, open_store

# (team, dag id, tags, description, paused, last run states oldest first, hours of the last)
DAGS = [
    ("data", "alpha", ("etl", "daily"), "Loads the ledger", False, ("success", "failed"), 5),
    ("data", "Beta", ("etl",), "nightly Report", False, ("running",), 5),
    ("data", "beta_2", ("ml",), "", True, (), 0),
    ("data", "beta-1", ("ml", "Daily"), "100% of the 50_50 split", False, ("success",), 2),
    ("ops", "alpha", ("etl",), "ops copy", False, ("queued",), 7),
    ("ops", "gamma.x", (), "", True, ("failed",), 1),
    ("ops", "delta", ("daily",), "", False, (), 0),
    ("ops", "zeta", ("etl", "ml", "lake"), "Daily ETL", False, ("success", "running"), 3),
]

# Owners of some DAGs (none named for the others); the case differs on purpose.
OWNERS = {("data", "alpha"): "data-eng", ("data", "Beta"): "data-eng",
          ("ops", "zeta"): "ops team", ("ops", "alpha"): "Data-Eng"}  # fmt: skip
STARRED = frozenset({("data", "alpha"), ("ops", "gamma.x"), ("ops", "zeta"), ("ops", "gone")})


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url, migrate=True)
    for team, dag_id, tags, description, paused, states, hours in DAGS:
        owner = OWNERS.get((team, dag_id))
        with DAG(dag_id, description=description, tags=list(tags), owner=owner) as dag:
            shell("t", "true")
        spec = serialize(dag, f"{dag_id}.py")
        version = opened.publish_dag(team, spec, fileloc=spec.fileloc, code_version="", now=NOW)
        if paused:
            opened.set_paused(team, dag_id, True)
        for n, state in enumerate(states):
            at = NOW + timedelta(hours=hours - len(states) + 1 + n)
            run = opened.create_run(team=team, dag_id=dag_id, version_id=version, run_id=f"r{n}",
                                    run_type="manual", logical_date=at, interval=(at, at),
                                    conf={}, task_ids=["t"], now=NOW)  # fmt: skip
            if state != "queued":
                opened.set_run_state(run.id, RunState(state), NOW)
    opened.record_import_error("data", "alpha.py", lineno=1, message="x", traceback="", now=NOW)
    yield opened
    opened.close()


def lists(store: Store) -> Lists:
    return Lists(store, lambda: datetime.now(UTC), Redaction(store))


def reference(store: Store, scope: Scope, query: DagQuery) -> dag_list.DagPage:
    """The in-memory list over every visible DAG's row."""
    last = store.last_runs(scope.teams)
    failing = {(e.team, e.repo, e.filename) for e in store.list_import_errors()}
    rows = [
        DagRow(
            DagSummary(d, None),
            *last.get((d.team, d.dag_id), ("none", None)),
            import_error=(d.team, d.repo, d.fileloc) in failing,
        )
        for d in store.active_dags(query.team, query.dag_id)
        if scope.sees(d.team)
    ]
    return dag_list.select(rows, query)


def shown(rows: list[DagRow]) -> list[tuple[str, str, str, bool]]:
    return [(r.summary.record.team, r.summary.record.dag_id, r.last_state, r.import_error)
            for r in rows]  # fmt: skip


def every_page(read: object, query: DagQuery) -> list[tuple[str, str, str, bool]]:
    seen: list[tuple[str, str, str, bool]] = []
    cursor = ""
    for _ in range(len(DAGS) + 1):
        page = read(DagQuery(**{**query.__dict__, "after": cursor}))  # type: ignore[operator]
        seen += shown(page.rows)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError("the pages never end")


QUERIES = [
    DagQuery(),
    DagQuery(tag="etl"),
    DagQuery(tag="daily"),
    DagQuery(tag="nope"),
    DagQuery(q="BETA"),
    DagQuery(q="report"),
    DagQuery(q="data/al"),
    DagQuery(q="0%"),
    DagQuery(q="_5"),
    DagQuery(state="running"),
    DagQuery(state="none"),
    DagQuery(state="failed", tag="etl"),
    DagQuery(paused=True),
    DagQuery(paused=False, q="a"),
    DagQuery(team="ops"),
    DagQuery(team="data", dag_id="alpha"),
    DagQuery(owner="data-eng"),
    DagQuery(owner="ops team", tag="etl"),
    DagQuery(owner="nobody"),
    DagQuery(starred=STARRED),
    DagQuery(starred=STARRED, favourite=True),
    DagQuery(starred=STARRED, favourite=True, state="failed"),
    DagQuery(starred=STARRED, q="a", owner="data-eng"),
    DagQuery(favourite=True),
]


@pytest.mark.parametrize("sort", ["name", "-last_run", "last_state"])
def test_the_database_lists_what_the_in_memory_list_does(store: Store, sort: str) -> None:
    read = lists(store)
    for scope in (EVERY_TEAM, Scope(frozenset({"ops"}))):
        for query in QUERIES:
            for limit in (50, 2):
                asked = DagQuery(**{**query.__dict__, "sort": sort, "limit": limit})
                got = read.dags(scope, asked)
                want = reference(store, scope, asked)
                assert (got.tabs, got.total) == (want.tabs, want.total), asked
                assert every_page(lambda q, s=scope: read.dags(s, q), asked) == every_page(
                    lambda q, s=scope: reference(store, s, q), asked
                ), asked


def test_sorts_put_what_needs_attention_first_and_newest_first(store: Store) -> None:
    read = lists(store)
    by_state = read.dags(EVERY_TEAM, DagQuery(sort="last_state"))
    assert [r.last_state for r in by_state.rows][:4] == ["failed", "failed", "running", "running"]
    newest = [
        r.summary.record.dag_id for r in read.dags(EVERY_TEAM, DagQuery(sort="-last_run")).rows
    ]
    assert newest[0] == "alpha" and newest[-2:] == ["beta_2", "delta"]  # no runs: last, by id
    tagged = read.dags(EVERY_TEAM, DagQuery(tag="etl", state="running"))
    assert [r.summary.record.dag_id for r in tagged.rows] == ["Beta", "zeta"]
    assert tagged.tabs == {"all": 4, "running": 2, "failed": 1, "paused": 0, "favourites": 0}
    assert tagged.total == 2


def test_owner_and_favourites_filter_in_the_database(store: Store) -> None:
    read = lists(store)
    owned = read.dags(EVERY_TEAM, DagQuery(owner="data-eng"))
    assert [r.summary.record.dag_id for r in owned.rows] == ["alpha", "Beta"]
    assert [r.summary.record.spec.owner for r in owned.rows] == ["data-eng", "data-eng"]
    assert read.dags(EVERY_TEAM, DagQuery(owner="nobody")).total == 0
    starred = read.dags(EVERY_TEAM, DagQuery(starred=STARRED, favourite=True))
    names = [(r.summary.record.team, r.summary.record.dag_id) for r in starred.rows]
    assert names == [("data", "alpha"), ("ops", "gamma.x"), ("ops", "zeta")]  # "gone": no DAG
    assert starred.tabs["favourites"] == 3
    assert (
        read.dags(Scope(frozenset({"ops"})), DagQuery(starred=STARRED, favourite=True)).total == 2
    )


def test_a_cursor_of_another_sort_is_refused(store: Store) -> None:
    read = lists(store)
    page = read.dags(EVERY_TEAM, DagQuery(sort="last_state", limit=2))
    assert page.next_cursor is not None
    for sort in ("name", "-last_run"):
        with pytest.raises(InvalidInput, match="another sort"):
            read.dags(EVERY_TEAM, DagQuery(sort=sort, after=page.next_cursor))


def test_the_typeahead_offers_the_visible_dags_tags(store: Store) -> None:
    read = lists(store)
    assert read.tags(EVERY_TEAM, "") == ["Daily", "daily", "etl", "lake", "ml"]
    assert read.tags(EVERY_TEAM, "DA") == ["Daily", "daily"]
    assert read.tags(EVERY_TEAM, "l") == ["lake", "Daily", "daily", "etl", "ml"]  # starts first
    assert read.tags(Scope(frozenset({"ops"})), "") == ["daily", "etl", "lake", "ml"]
    assert read.tags(EVERY_TEAM, "", team="data") == ["Daily", "daily", "etl", "ml"]
    assert read.tags(EVERY_TEAM, "%") == []
    store.retire_dags("ops", present_files=[])
    assert read.tags(Scope(frozenset({"ops"})), "") == []


def test_the_typeahead_offers_the_visible_dags_owners(store: Store) -> None:
    read = lists(store)
    assert read.owners(EVERY_TEAM, "") == ["Data-Eng", "data-eng", "ops team"]
    assert read.owners(EVERY_TEAM, "team") == ["ops team"]
    assert read.owners(EVERY_TEAM, "ENG") == ["Data-Eng", "data-eng"]
    assert read.owners(Scope(frozenset({"ops"})), "") == ["Data-Eng", "ops team"]
    assert read.owners(EVERY_TEAM, "", team="data") == ["data-eng"]
    assert read.owners(EVERY_TEAM, "%") == []


def test_the_migration_fills_the_owners_of_versions_already_stored(database_url: str) -> None:
    from alembic import command

    from brisa.store.migrate import _config
    from brisa.store.tables import dag_versions

    opened = open_store(database_url)
    try:
        with opened.engine.begin() as conn:
            command.upgrade(_config(conn), "0013")
        legacy = sa.table("dag_versions", *(sa.column(c.name, c.type) for c in dag_versions.c
                                             if c.name != "owner"))  # fmt: skip
        for version_id, owner in ((7, "data-eng"), (8, None)):
            with DAG(f"old{version_id}", owner=owner) as dag:
                shell("t", "true")
            with opened.engine.begin() as conn:
                conn.execute(legacy.insert().values(
                    id=version_id, team="data", dag_id=dag.dag_id, structure_hash="h",
                    code_version="", spec=serialize(dag, "old.py").to_json(), created_at=NOW,
                ))  # fmt: skip
        with opened.engine.begin() as conn:
            command.upgrade(_config(conn), "head")
        with opened.engine.connect() as conn:
            found = conn.execute(sa.select(dag_versions.c.id, dag_versions.c.owner)).all()
        assert sorted(found) == [(7, "data-eng"), (8, None)]
    finally:
        opened.close()


def test_the_migration_fills_the_tags_of_versions_already_stored(database_url: str) -> None:
    from alembic import command

    from brisa.store.migrate import _config
    from brisa.store.tables import dag_tags, dag_versions

    opened = open_store(database_url)
    try:
        with opened.engine.begin() as conn:
            command.upgrade(_config(conn), "0005")
        with DAG("old", tags=["etl", "daily"]) as dag:
            shell("t", "true")
        with opened.engine.begin() as conn:
            conn.execute(dag_versions.insert().values(
                id=7, team="data", dag_id="old", structure_hash="h", code_version="",
                spec=serialize(dag, "old.py").to_json(), created_at=NOW,
            ))  # fmt: skip
        with opened.engine.begin() as conn:
            command.upgrade(_config(conn), "head")
        with opened.engine.connect() as conn:
            found = conn.execute(sa.select(dag_tags.c.version_id, dag_tags.c.tag)).all()
        assert sorted(found) == [(7, "daily"), (7, "etl")]
    finally:
        opened.close()


def test_owner_and_favourites_cost_no_extra_statement(store: Store) -> None:
    """The owner and favourite filters and the Favourites tab live inside the page's two
    statements: a filtered page costs what the plain one does."""
    from test_dag_reads import statements

    read = lists(store)
    read.dags(EVERY_TEAM, DagQuery())  # the specs in the cache, as on every later page
    plain = statements(store, lambda: read.dags(EVERY_TEAM, DagQuery()))
    asked = DagQuery(owner="data-eng", starred=STARRED, favourite=True)
    assert statements(store, lambda: read.dags(EVERY_TEAM, asked)) == plain == 4
    assert statements(store, lambda: read.owners(EVERY_TEAM, "d")) == 1
