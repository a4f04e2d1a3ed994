"""The DAG page's grid keeps the cells of finished runs (`web/ui/gridcache.py`), keyed by each
run's mark read from the database with the runs: the second page reads no task of a finished
run, yet a clear or a mark shows at once, also when another API replica made it (here: the
store changed behind this application's back, which no invalidation reaches)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from brisa import DAG, shell
from brisa.core.states import RunState, TaskState
from brisa.testing.fakes import Fail, Succeed
from system.inprocess import InProcess

PAGE = "/teams/default/dags/pair"
GRID = "/_/teams/default/dags/pair/grid"
CELL = re.compile(r'<div role="gridcell" class="gc s-(\w+)" id="c-(\d+)-(\w+)".*?</div>')


def pair() -> DAG:
    """Two independent tasks."""
    with DAG("pair") as dag:
        shell("a", "true")
        shell("b", "true")
    return dag


def cells(html: str) -> dict[tuple[int, str], str]:
    """Each cell's state by (run pk, task)."""
    return {(int(pk), task): state for state, pk, task in CELL.findall(html)}


def cell_html(html: str) -> list[str]:
    return [m.group(0) for m in CELL.finditer(html)]


def finished_failed_runs(brisa: InProcess) -> dict[str, int]:
    """r1: a and b failed; r2: both succeeded. Their pks by run id."""
    brisa.publish(pair())
    brisa.executor.script("a", Fail("no"), Succeed("yes"))
    brisa.executor.script("b", Fail("no"), Succeed("yes"))
    brisa.trigger("pair", "r1")
    brisa.settle()
    brisa.trigger("pair", "r2")
    brisa.settle()
    assert brisa.run("pair", "r1")["state"] == "failed"
    assert brisa.run("pair", "r2")["state"] == "success"
    return {r: brisa.store.get_run("default", "pair", r).id for r in ("r1", "r2")}


def test_finished_columns_come_from_the_cache_with_the_same_cells(brisa: InProcess) -> None:
    pks = finished_failed_runs(brisa)
    cache = brisa.app.state.grid_cache
    first = brisa.api.get(PAGE).text
    assert (cache.hits, len(cache)) == (0, 2)
    again = brisa.api.get(PAGE).text
    assert cache.hits == 2  # both columns, and no task of theirs read
    assert cell_html(again) == cell_html(first)
    assert cells(again)[(pks["r1"], "a")] == "failed"
    assert cells(again)[(pks["r2"], "b")] == "success"
    # the grid fragment shares the page's cells (same link base and query)
    assert cell_html(brisa.api.get(GRID).text) == cell_html(first) and cache.hits == 4
    brisa.app.state.grid_cache = None  # without a cache: byte for byte the same cells
    assert cell_html(brisa.api.get(PAGE).text) == cell_html(first)


def test_a_clear_in_a_finished_run_shows_at_once_and_after_the_rerun(brisa: InProcess) -> None:
    pks = finished_failed_runs(brisa)
    brisa.api.get(PAGE)
    brisa.api.get(PAGE)  # r1's failed cells now come from the cache
    brisa.request("POST", f"{brisa.run_path('pair', 'r1')}/clear", {"task_ids": ["a"]})
    shown = cells(brisa.api.get(PAGE).text)
    assert shown[(pks["r1"], "a")] not in ("failed", "success")  # cleared: waiting to run
    assert shown[(pks["r1"], "b")] == "failed"
    brisa.settle()
    assert brisa.run("pair", "r1")["state"] == "failed"  # b is still failed
    for _ in range(2):  # rendered, then from the cache under the run's new mark
        shown = cells(brisa.api.get(PAGE).text)
        assert shown[(pks["r1"], "a")] == "success"
        assert shown[(pks["r1"], "b")] == "failed"


def test_a_mark_made_elsewhere_shows_in_a_finished_column_at_once(brisa: InProcess) -> None:
    """Another replica marks a task; the run ends in the same state as before. Nothing tells
    this application; the run's mark, read with the runs, does."""
    pks = finished_failed_runs(brisa)
    brisa.api.get(PAGE)
    assert cells(brisa.api.get(PAGE).text)[(pks["r1"], "b")] == "failed"
    store = brisa.store
    run = store.get_run("default", "pair", "r1")
    now = datetime.now(UTC)
    assert store.mark_tasks(run, {"b"}, TaskState.SUCCESS, now) == ["b"]
    assert store.set_run_state(run.id, RunState.FAILED, now)  # a is still failed
    assert store.get_run("default", "pair", "r1").state == RunState.FAILED
    shown = cells(brisa.api.get(PAGE).text)
    assert shown[(pks["r1"], "b")] == "success"
    assert shown[(pks["r1"], "a")] == "failed"
