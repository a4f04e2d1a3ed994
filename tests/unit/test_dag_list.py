"""The DAG list's pure parts: filters, tab counts, sorting and keyset cursors; import-error
kinds; the search filters read from a query string."""

from __future__ import annotations

from datetime import timedelta

import pytest
from planner_builders import T0, build_spec, dag_record

from brisa.control import dag_list, search
from brisa.control.dag_list import DagQuery, DagRow
from brisa.control.import_errors import kind_of, location_of
from brisa.control.queries import DagSummary
from brisa.core.records import ImportErrorRecord
from brisa.errors import InvalidInput
from brisa.store.listing import RunBrief


def run(dag_id: str, state: str, hours: int) -> RunBrief:
    at = T0 + timedelta(hours=hours)
    return RunBrief(1, "data", dag_id, "r", "manual", state, at, at, at, "")


def row(dag_id: str, state: str | None = None, *, tags: tuple[str, ...] = (), paused: bool = False,
        hours: int = 0, owner: str | None = None) -> DagRow:  # fmt: skip
    record = dag_record(build_spec(dag_id, tags=list(tags), owner=owner), is_paused=paused)
    if state is None:
        return DagRow(DagSummary(record, None))
    last = run(dag_id, state, hours)
    return DagRow(DagSummary(record, None), state, last.logical_date, [last])


ROWS = [
    row("load", "failed", tags=("etl",), hours=3, owner="data-eng"),
    row("extract", "success", tags=("etl", "daily"), hours=5, owner="data-eng"),
    row("report", "running", hours=1),
    row("archive", paused=True),
]


def ids(page: dag_list.DagPage) -> list[str]:
    return [r.summary.record.dag_id for r in page.rows]


def test_filters_and_tab_counts_agree() -> None:
    failed = dag_list.select(ROWS, DagQuery(state="failed"))
    assert ids(failed) == ["load"] and failed.tabs["failed"] == failed.total == 1
    assert dag_list.select(ROWS, DagQuery()).tabs == {
        "all": 4, "running": 1, "failed": 1, "paused": 1, "favourites": 0,
    }  # fmt: skip
    tagged = dag_list.select(ROWS, DagQuery(tag="etl"))
    assert ids(tagged) == ["extract", "load"] and tagged.tabs["all"] == 2
    assert ids(dag_list.select(ROWS, DagQuery(state="none"))) == ["archive"]
    assert ids(dag_list.select(ROWS, DagQuery(paused=True))) == ["archive"]
    assert ids(dag_list.select(ROWS, DagQuery(q="DATA/REP"))) == ["report"]


def test_owner_and_favourite_filters_and_their_tab() -> None:
    owned = dag_list.select(ROWS, DagQuery(owner="data-eng"))
    assert ids(owned) == ["extract", "load"] and owned.tabs["all"] == 2
    nobody = dag_list.select(ROWS, DagQuery(owner="nobody"))
    assert ids(nobody) == [] and nobody.total == 0
    starred = frozenset({("data", "report"), ("data", "archive"), ("ops", "report")})
    favourites = dag_list.select(ROWS, DagQuery(favourite=True, starred=starred))
    assert ids(favourites) == ["archive", "report"] and favourites.tabs["favourites"] == 2
    assert dag_list.select(ROWS, DagQuery(starred=starred)).total == 4  # counted, not filtered
    assert dag_list.select(ROWS, DagQuery(favourite=True)).total == 0  # nothing starred
    query = dag_list.query_from({"owner": " data-eng ", "favourite": "1"})
    assert (query.owner, query.favourite) == ("data-eng", True)
    assert query.filters() == {"owner": "data-eng", "favourite": "1"}
    with pytest.raises(InvalidInput, match="favourite must be 1 or 0"):
        dag_list.query_from({"favourite": "yes please"})


def test_pages_follow_the_keyset_cursor_in_every_sort() -> None:
    for sort in dag_list.SORTS:
        seen: list[str] = []
        cursor = ""
        while True:
            page = dag_list.select(ROWS, DagQuery(sort=sort, limit=1, after=cursor))
            seen += ids(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert sorted(seen) == sorted(ids(dag_list.select(ROWS, DagQuery()))), sort
    newest = dag_list.select(ROWS, DagQuery(sort="-last_run"))
    assert ids(newest) == ["extract", "load", "report", "archive"]
    assert ids(dag_list.select(ROWS, DagQuery(sort="last_state")))[0] == "load"


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "x"}, {"sort": "size"}, {"state": "odd"}, {"paused": "maybe"},
     {"after": "!!"}, {"after": "bm90IGEgbGlzdA"}],
)  # fmt: skip
def test_malformed_list_queries_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        dag_list.select(ROWS, dag_list.query_from(params))


def test_tag_choices_start_with_then_contain() -> None:
    tags = [("etl", "daily"), ("hourly",), ("Daily-report",)]
    assert dag_list.tag_choices(tags, "dai") == ["daily", "Daily-report"]
    assert dag_list.tag_choices(tags, "ly") == ["daily", "Daily-report", "hourly"]


def error(message: str, traceback: str = "", lineno: int | None = None) -> ImportErrorRecord:
    return ImportErrorRecord("data", "dags/broken.py", lineno, message, traceback, T0)


def test_import_error_kinds_and_locations() -> None:
    frame = '  File "/repo/dags/broken.py", line 7, in <module>\n'
    assert kind_of(error("SyntaxError: invalid syntax", frame)) == "syntax"
    assert kind_of(error("No module named 'x'", "ModuleNotFoundError: x")) == "import"
    assert kind_of(error("parsing took longer than 30s (dags.parse_timeout)")) == "timeout"
    assert kind_of(error("the parsing process died while importing this file")) == "crash"
    assert kind_of(error("duplicate task id")) == "error"
    assert location_of(error("x", frame)) == "dags/broken.py:7"
    assert location_of(error("x", lineno=3)) == "dags/broken.py:3"
    assert location_of(error("x")) == "dags/broken.py"


def test_search_filters_from_a_query_string() -> None:
    f = search.run_filter({"state": "failed,running", "from": "2026-03-01", "after": "9"}, None)
    assert f.states == ("failed", "running") and f.before_id == 9
    assert f.since is not None and f.since.tzinfo is not None
    assert search.run_filter({"team": "ops"}, frozenset({"data"})).teams == frozenset()
    assert search.task_filter({"try_gt": "1"}, None).try_gt == 1
    for bad in ({"state": "odd"}, {"run_type": "cron"}, {"from": "yesterday"}, {"after": "-1"}):
        with pytest.raises(InvalidInput):
            search.run_filter(bad, None)
    with pytest.raises(InvalidInput):
        search.limit_of({"limit": "500"})
