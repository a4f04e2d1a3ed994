"""Lists across DAGs on every backend: last and recent runs of many DAGs in one statement, runs
and task instances filtered and paged by keyset, and the Overview's counts."""

from __future__ import annotations

from datetime import timedelta

from test_store import NOW, TEAM, etl_spec, new_run, publish, queue

from brisa.core.states import RunState
from brisa.store import Store
from brisa.store.listing import RunFilter, TaskFilter


def _runs(store: Store, dag_id: str, count: int) -> list[int]:
    ids = []
    for n in range(count):
        run = new_run(store, f"r{n}", dag_id=dag_id, logical_date=NOW + timedelta(hours=n))
        ids.append(run.id)
    return ids


def test_last_and_recent_runs_of_many_dags(store: Store) -> None:
    first = _runs(store, "a", 5)
    _runs(store, "b", 2)
    publish(store, etl_spec("idle", fileloc="idle.py"))
    last = store.last_runs()
    assert last[(TEAM, "a")] == ("queued", NOW + timedelta(hours=4))
    assert last[(TEAM, "b")][1] == NOW + timedelta(hours=1)
    assert (TEAM, "idle") not in last
    assert store.last_runs(frozenset({"other"})) == {}
    recent = store.recent_runs([(TEAM, "a"), (TEAM, "idle")], 3)
    assert [r.run_id for r in recent[(TEAM, "a")]] == ["r4", "r3", "r2"]
    assert (TEAM, "idle") not in recent
    assert recent[(TEAM, "a")][-1].id == first[2]
    assert store.newest_scheduled([(TEAM, "a")]) == {}  # manual runs only
    new_run(store, "s1", dag_id="b", logical_date=NOW - timedelta(days=1), run_type="scheduled")
    assert store.newest_scheduled([(TEAM, "b")]) == {(TEAM, "b"): NOW - timedelta(days=1)}


def test_runs_are_filtered_and_paged_by_keyset(store: Store) -> None:
    ids = _runs(store, "a", 5)
    store.set_run_state(ids[1], RunState.RUNNING, NOW)
    page = store.search_runs(RunFilter(), 2)
    assert [r.id for r in page] == [ids[4], ids[3]]
    following = store.search_runs(RunFilter(before_id=page[-1].id), 10)
    assert [r.id for r in following] == [ids[2], ids[1], ids[0]]
    running = store.search_runs(RunFilter(states=("running",)), 10)
    assert [r.run_id for r in running] == ["r1"]
    assert store.search_runs(RunFilter(run_id="r3"), 10)[0].id == ids[3]
    later = store.search_runs(RunFilter(since=NOW + timedelta(hours=3)), 10)
    assert {r.run_id for r in later} == {"r3", "r4"}
    assert store.search_runs(RunFilter(teams=frozenset()), 10) == []


def test_task_instances_across_runs_and_the_counts(store: Store) -> None:
    run = new_run(store, "r0", dag_id="a")
    queue(store, run, "extract", now=NOW - timedelta(minutes=30))
    queue(store, run, "audit", now=NOW)
    store.set_run_state(run.id, RunState.RUNNING, NOW)
    queued = store.search_tasks(TaskFilter(states=("queued",)), 10)
    assert {t.task_id for t in queued} == {"extract", "audit"}
    assert queued[0].run.run_id == "r0"
    tried = store.search_tasks(TaskFilter(try_gt=0, task_id="extract"), 10)
    assert [t.try_number for t in tried] == [1]
    counts = store.counts(None, NOW - timedelta(days=1), NOW - timedelta(minutes=10))
    assert (counts.running_runs, counts.queued_tasks, counts.waiting_tasks) == (1, 2, 1)
    assert store.counts(frozenset({"other"}), NOW, NOW).queued_tasks == 0
