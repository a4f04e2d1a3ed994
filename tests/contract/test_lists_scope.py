"""The lists across DAGs keep to the caller's teams, on every backend: another team's DAGs,
runs, task instances and import errors are not listed, its row is NotFound, the jump box does
not find its DAGs or runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_store import NOW, etl_spec

from brisa.control.dag_list import DagQuery
from brisa.control.lists import Lists
from brisa.control.queries import Scope
from brisa.control.redaction import Redaction
from brisa.errors import NotFound
from brisa.store import Store

DATA = Scope(frozenset({"data"}))


def lists_with_two_teams(store: Store) -> Lists:
    for team in ("data", "ops"):
        spec = etl_spec(f"{team}_etl", fileloc=f"{team}.py")
        version = store.publish_dag(team, spec, fileloc=spec.fileloc, code_version="", now=NOW)
        store.create_run(
            team=team,
            dag_id=spec.dag_id,
            version_id=version,
            run_id=f"{team}_run",
            run_type="manual",
            logical_date=NOW,
            interval=(NOW, NOW),
            conf={},
            task_ids=["extract"],
            now=NOW,
        )
        store.record_import_error(
            team, "broken.py", lineno=1, message="SyntaxError", traceback="", now=NOW
        )
    return Lists(store, lambda: datetime.now(UTC), Redaction(store))


def test_lists_show_only_the_callers_teams(store: Store) -> None:
    lists = lists_with_two_teams(store)
    page = lists.dags(DATA, DagQuery())
    assert [r.summary.record.dag_id for r in page.rows] == ["data_etl"]
    assert page.tabs["all"] == 1
    assert lists.dags(DATA, DagQuery(team="ops")).rows == []
    assert {r.run_id for r in lists.runs(DATA, {}).items} == {"data_run"}
    assert lists.runs(DATA, {"team": "ops"}).items == []
    assert {t.run.team for t in lists.tasks(DATA, {}).items} == {"data"}
    assert {e.record.team for e in lists.import_errors(DATA)} == {"data"}
    assert lists.import_errors(DATA, team="ops") == []
    assert lists.activity(DATA).counts.queued_tasks == 0


def test_another_teams_row_and_jump_targets_are_not_found(store: Store) -> None:
    lists = lists_with_two_teams(store)
    with pytest.raises(NotFound):
        lists.dag_row(DATA, "ops", "ops_etl")
    assert lists.dag_row(DATA, "data", "data_etl").last_state == "queued"
    assert lists.jump(DATA, "ops/ops_etl") == "/dags?q=ops%2Fops_etl"
    assert lists.jump(DATA, "ops_run") == "/dags?q=ops_run"
    assert lists.jump(DATA, "data_run") == "/teams/data/dags/data_etl/runs/data_run"
    assert lists.jump(DATA, "data_etl") == "/teams/data/dags/data_etl"
