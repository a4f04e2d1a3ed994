"""The DAG page's reads on every store backend (control/dagview.py over the store): the grid
costs the same few statements whatever the number of runs, a run's attempts come in one
statement, a version is found by its commit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from test_store import NOW, TEAM, new_run, publish, start

from brisa.control.dagview import DagViews
from brisa.control.grid import RowFilter
from brisa.control.queries import EVERY_TEAM, Scope
from brisa.control.redaction import Redaction
from brisa.core.states import RunState, TaskState
from brisa.errors import NotFound
from brisa.store import Store, open_store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url, migrate=True)
    yield opened
    opened.close()


def views(store: Store) -> DagViews:
    return DagViews(store, Redaction(store), lambda: NOW)


def statements(store: Store, read: object) -> int:
    seen: list[str] = []

    def count(*args: object) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN
            seen.append(str(args[2]))

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        read()  # type: ignore[operator]
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_grid_costs_the_same_statements_for_2_or_12_runs(store: Store) -> None:
    for i in range(2):
        new_run(store, f"r{i}", logical_date=NOW + timedelta(hours=i))
    grid = views(store).grid
    grid(EVERY_TEAM, TEAM, "etl", RowFilter())  # caches warm
    few = statements(store, lambda: grid(EVERY_TEAM, TEAM, "etl", RowFilter()))
    for i in range(2, 12):
        new_run(store, f"r{i}", logical_date=NOW + timedelta(hours=i))
    grid(EVERY_TEAM, TEAM, "etl", RowFilter())
    many = statements(store, lambda: grid(EVERY_TEAM, TEAM, "etl", RowFilter()))
    assert many == few <= 5
    found = grid(EVERY_TEAM, TEAM, "etl", RowFilter(), runs=5)
    assert [c.run.run_id for c in found.columns] == ["r7", "r8", "r9", "r10", "r11"]
    assert found.rows[-1] == "report" and set(found.rows) == {"audit", "extract", "load", "report"}


def test_the_grid_fragment_reads_the_dag_once_in_at_most_5_statements(store: Store) -> None:
    """UI.md A.5: the grid fragment costs <= 5 statements whatever the run count; the DAG is
    read once (not again for the header), and the next run only when no run is shown."""
    publish(store)
    grid_view = views(store).grid_view
    empty = grid_view(EVERY_TEAM, TEAM, "etl", RowFilter())
    assert empty.grid.columns == [] and empty.summary.record.dag_id == "etl"
    for i in range(2):
        new_run(store, f"r{i}", logical_date=NOW + timedelta(hours=i))
    grid_view(EVERY_TEAM, TEAM, "etl", RowFilter())  # caches warm
    few = statements(store, lambda: grid_view(EVERY_TEAM, TEAM, "etl", RowFilter()))
    for i in range(2, 12):
        new_run(store, f"r{i}", logical_date=NOW + timedelta(hours=i))
    many = statements(store, lambda: grid_view(EVERY_TEAM, TEAM, "etl", RowFilter()))
    assert many == few <= 5
    found = grid_view(EVERY_TEAM, TEAM, "etl", RowFilter(), runs=3)
    assert [c.run.run_id for c in found.grid.columns] == ["r9", "r10", "r11"]


def test_held_finished_columns_cost_no_task_read_and_a_move_changes_their_key(
    store: Store,
) -> None:
    """The grid's cache (web/ui/gridcache.py): a finished run's column has a key with its
    transition mark; a caller that holds its cells skips reading its tasks (one statement
    less), and a move of one of its tasks, even one that leaves the run as it was, changes the
    key."""
    new_run(store, "done")
    run = store.get_run(TEAM, "etl", "done")
    assert store.mark_tasks(run, set(run.tasks), TaskState.SUCCESS, NOW)
    assert store.set_run_state(run.id, RunState.SUCCESS, NOW)
    grid = views(store).grid
    first = grid(EVERY_TEAM, TEAM, "etl", RowFilter())
    [column] = first.columns
    assert column.key is not None and column.loaded and column.cells["load"].state == "success"
    every = statements(store, lambda: grid(EVERY_TEAM, TEAM, "etl", RowFilter()))
    asked: list[object] = []
    held = grid(EVERY_TEAM, TEAM, "etl", RowFilter(), held=lambda k: asked.append(k) or True)
    assert asked == [column.key] and not held.columns[0].loaded
    assert (
        statements(store, lambda: grid(EVERY_TEAM, TEAM, "etl", RowFilter(), held=lambda k: True))
        == every - 1
    )
    run = store.get_run(TEAM, "etl", "done")
    store.mark_tasks(run, {"load"}, TaskState.FAILED, NOW)
    store.mark_tasks(store.get_run(TEAM, "etl", "done"), {"load"}, TaskState.SUCCESS, NOW)
    assert store.set_run_state(run.id, RunState.SUCCESS, NOW)
    [again] = grid(EVERY_TEAM, TEAM, "etl", RowFilter()).columns
    assert again.run.state == column.run.state and again.key != column.key
    assert again.key is not None and again.key.mark[1] == column.key.mark[1] + 2
    running = new_run(store, "busy", logical_date=NOW + timedelta(hours=1))
    assert store.get_run(TEAM, "etl", running.run_id).state != RunState.SUCCESS
    columns = grid(EVERY_TEAM, TEAM, "etl", RowFilter(), held=lambda k: True).columns
    assert [c.loaded for c in columns] == [False, True]  # an unfinished run is always read
    assert columns[1].key is None


def test_a_runs_attempts_by_task(store: Store) -> None:
    run = new_run(store)
    start(store, run, "audit")
    view = views(store).run(EVERY_TEAM, TEAM, "etl", "manual__1")
    assert next(iter(view.run.tasks)) == "audit"
    assert [(a.try_number, a.state) for a in view.attempts["audit"]] == [(1, TaskState.RUNNING)]
    assert "load" not in view.attempts


def test_structure_at_a_commit_and_the_scope(store: Store) -> None:
    new_run(store)
    found = views(store).structure(EVERY_TEAM, TEAM, "etl", "c1")
    assert [n["id"] for n in found["nodes"]][-1] == "report"
    assert views(store).structure(EVERY_TEAM, TEAM, "etl", "")["hash"] == found["hash"]
    with pytest.raises(NotFound):
        views(store).structure(EVERY_TEAM, TEAM, "etl", "deadbeef00")
    with pytest.raises(NotFound):
        views(store).grid(Scope(frozenset({"other"})), TEAM, "etl", RowFilter())
