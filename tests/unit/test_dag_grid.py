"""The grid's assembly, its row filter and the graph structure (control/grid.py,
control/structure.py), and the DAG page's pure helpers (web/ui/dagfmt.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from planner_builders import T0, build_spec, dag_record, make_run

from brisa.control.dagview import upcoming_fires
from brisa.control.grid import Cell, RowFilter, assemble, select_rows
from brisa.control.queries import DagSummary
from brisa.control.structure import neighbours, structure
from brisa.core.states import RunState, TaskState
from brisa.errors import InvalidInput
from brisa.web.ui import gridcells
from brisa.web.ui.dagfmt import BAR_MAX, BAR_MIN, bar_height, dag_zone

# a -> b -> c -> d, and a -> e
SPEC = build_spec(
    tasks=("a", "b", "c", "d", "e"),
    edges=[("a", "b"), ("b", "c"), ("c", "d"), ("a", "e")],
    task_options={"b": {"retries": 2}},
)


def test_rows_follow_the_latest_versions_topological_order() -> None:
    rows = select_rows(SPEC, RowFilter())
    assert set(rows) == set("abcde")
    assert rows.index("a") < rows.index("b") < rows.index("c") < rows.index("d")
    assert rows.index("a") < rows.index("e")


@pytest.mark.parametrize(
    ("wanted", "rows"),
    [
        (RowFilter(root="b", depth=1), {"a", "b", "c"}),
        (RowFilter(root="b", depth=1, dir="down"), {"b", "c"}),
        (RowFilter(root="b", dir="down"), {"b", "c", "d"}),
        (RowFilter(root="c", dir="up"), {"a", "b", "c"}),
        (RowFilter(root="a", depth=0), {"a"}),
        (RowFilter(text="B"), {"b"}),
        (RowFilter(text="x"), set()),
    ],
)
def test_row_filter(wanted: RowFilter, rows: set[str]) -> None:
    assert set(select_rows(SPEC, wanted)) == rows


def test_bad_filters_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="no task 'zz'"):
        select_rows(SPEC, RowFilter(root="zz"))
    with pytest.raises(InvalidInput, match="depth"):
        RowFilter(depth=99)
    with pytest.raises(InvalidInput, match="dir"):
        RowFilter(dir="sideways")  # type: ignore[arg-type]


def test_columns_run_oldest_to_newest_with_markers_between_commits() -> None:
    old = build_spec(tasks=("a", "b"), edges=[("a", "b")])
    runs = [
        dataclasses.replace(make_run(SPEC, pk=3, version_id=2), code_version="bbb"),
        dataclasses.replace(make_run(SPEC, pk=2, version_id=2), code_version="bbb"),
        dataclasses.replace(make_run(old, pk=1, version_id=1), code_version="aaa"),
    ]
    grid = assemble(SPEC, runs, {1: old, 2: SPEC}, RowFilter())
    assert [c.run.id for c in grid.columns] == [1, 2, 3]
    assert [c.commit_before for c in grid.columns] == [None, "aaa", None]
    first = grid.columns[0]
    assert first.cells["c"].task is None and first.cells["c"].state == "absent"
    assert first.cells["a"].state == "pending"
    assert grid.columns[1].cells["b"].max_tries == 3  # retries=2 in the run's own version
    assert grid.columns[0].cells["b"].max_tries == 1


def test_column_duration_runs_to_now_while_the_run_goes_on() -> None:
    run = make_run(SPEC, start_date=T0)
    grid = assemble(SPEC, [run], {1: SPEC}, RowFilter())
    assert grid.columns[0].duration(T0 + timedelta(seconds=9)) == 9
    done = dataclasses.replace(run, state=RunState.SUCCESS, end_date=T0 + timedelta(seconds=4))
    assert assemble(SPEC, [done], {}, RowFilter()).columns[0].duration(T0 + timedelta(1)) == 4


def test_structure_is_stable_and_names_every_edge() -> None:
    found = structure(SPEC)
    assert [n["id"] for n in found["nodes"]] == select_rows(SPEC, RowFilter())
    assert found["edges"] == [["a", "b"], ["a", "e"], ["b", "c"], ["c", "d"]]
    assert found["nodes"][0] == {"id": "a", "kind": "shell", "trigger_rule": "all_success",
                                 "retries": 0}  # fmt: skip
    assert structure(SPEC)["hash"] == found["hash"]
    other = build_spec(tasks=("a", "b"), edges=[("a", "b")])
    assert structure(other)["hash"] != found["hash"]
    assert neighbours(SPEC)["a"] == ([], ["b", "e"])


def test_next_three_fires_in_order() -> None:
    spec = build_spec(schedule="30 2 * * *", timezone="Europe/Berlin", start_date=T0)
    record = dag_record(spec)
    first = T0 + timedelta(days=1)
    fires = upcoming_fires(DagSummary(record, first))
    assert len(fires) == 3 and fires[0] == first
    assert fires[1] > fires[0] and fires[2] - fires[1] == timedelta(days=1)
    assert upcoming_fires(DagSummary(dag_record(SPEC), None)) == []
    assert dag_zone(spec) == "Europe/Berlin" and dag_zone(SPEC) == "UTC"


def test_bar_height_grows_with_duration_within_bounds() -> None:
    assert bar_height(None) == BAR_MIN == bar_height(0)
    heights = [bar_height(s) for s in (1, 60, 3600, 10**7)]
    assert heights == sorted(heights) and heights[-1] == BAR_MAX
    assert heights[0] > BAR_MIN


def test_failed_cells_keep_their_state() -> None:
    run = make_run(SPEC, tasks={"a": TaskState.FAILED})
    assert assemble(SPEC, [run], {1: SPEC}, RowFilter()).columns[0].cells["a"].state == "failed"


def test_grid_cells_html_names_each_cell_and_escapes_what_it_shows() -> None:
    """The cells built from per-column and per-state pieces (web/ui/gridcells.py): each
    names its task, run, state and try in words, links to its task, and escapes the run id,
    the query and the task ids (in text and in URLs)."""
    spec = build_spec(tasks=("a", "b"), edges=[("a", "b")], task_options={"b": {"retries": 2}})
    tasks = {"b": {"state": TaskState.FAILED, "try_number": 2}}
    run = dataclasses.replace(make_run(spec, pk=7, tasks=tasks), run_id="r&1")
    grid = assemble(spec, [run], {1: spec}, RowFilter())
    assert grid.rows == ["a", "b"]
    column = dataclasses.replace(grid.columns[0], cells={**grid.columns[0].cells})
    column.cells["x<y"] = Cell("x<y", None, 1)
    html = gridcells.cells(column, ["a", "b", "x<y"], "/teams/data/dags/d", "?q=<&>", oob=True)
    assert html == [
        '<div role="gridcell" class="gc s-pending" id="c-7-a" hx-swap-oob="true"><a class="gl" '
        'tabindex="-1" href="/teams/data/dags/d/runs/r%261/tasks/a?q=&lt;&amp;&gt;" '
        'aria-label="a, run r&amp;1, pending">◌</a></div>',
        '<div role="gridcell" class="gc s-failed" id="c-7-b" hx-swap-oob="true"><a class="gl" '
        'tabindex="-1" href="/teams/data/dags/d/runs/r%261/tasks/b?q=&lt;&amp;&gt;" '
        'aria-label="b, run r&amp;1, failed, try 2 of 3">✕</a></div>',
        '<div role="gridcell" class="gc s-absent" id="c-7-x&lt;y" hx-swap-oob="true"><span '
        'class="gl" tabindex="-1" aria-label="x&lt;y, run r&amp;1, not in this version">·</span>'
        "</div>",
    ]
