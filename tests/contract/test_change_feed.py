"""The change outbox and the change feed on SQLite and PostgreSQL (ADR 0017): what a page's
event stream learns when a run, a task or a DAG changes, and what it is told after a gap."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.control.changefeed import Change, ChangeFeed
from brisa.control.livetopics import LiveTopics
from brisa.control.queries import Scope
from brisa.core.records import RunRecord
from brisa.core.spec import DagSpec
from brisa.core.states import RunState, TaskState
from brisa.objectstore import open_object_store
from brisa.store import Store

TEAM = "data"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def spec(dag_id: str = "etl", command: str = "true") -> DagSpec:
    with DAG(dag_id) as dag:
        shell("a", command) >> shell("b", "true")
    return serialize(dag, f"{dag_id}.py")


def new_run(store: Store, run_id: str = "manual__1") -> RunRecord:
    version = store.publish_dag(TEAM, spec(), fileloc="etl.py", code_version="c1", now=NOW)
    return store.create_run(
        team=TEAM,
        dag_id="etl",
        version_id=version,
        run_id=run_id,
        run_type="manual",
        logical_date=NOW,
        interval=(NOW - timedelta(days=1), NOW),
        conf={},
        task_ids=["a", "b"],
        now=NOW,
    )


def topics_after(store: Store, last: int) -> list[str]:
    return [topic for _, topic in store.changes_after(last)]


def test_a_new_run_and_each_state_change_are_recorded(store: Store) -> None:
    run = new_run(store)
    assert set(topics_after(store, 0)) >= {f"run:{run.id}", f"dag:{TEAM}/etl", "health"}
    mark = store.last_change_id()
    ti = run.tasks["a"]
    assert store.queue_task(ti.id, expected=TaskState.PENDING, try_number=0, now=NOW)
    assert set(topics_after(store, mark)) == {f"run:{run.id}", f"attempt:{ti.id}/1", "health"}
    mark = store.last_change_id()
    assert store.set_run_state(run.id, RunState.RUNNING, NOW)
    assert set(topics_after(store, mark)) == {f"run:{run.id}", f"dag:{TEAM}/etl", "health"}


def test_a_refused_move_records_nothing(store: Store) -> None:
    run = new_run(store)
    mark = store.last_change_id()
    assert not store.set_task_state(
        run.tasks["a"].id, TaskState.SUCCESS, expected=TaskState.RUNNING, try_number=1, now=NOW
    )
    assert topics_after(store, mark) == []


def test_dag_changes_only_when_something_shown_changed(store: Store) -> None:
    store.publish_dag(TEAM, spec(), fileloc="etl.py", code_version="c1", now=NOW)
    mark = store.last_change_id()
    store.publish_dag(TEAM, spec(), fileloc="etl.py", code_version="c1", now=NOW)  # a re-parse
    assert topics_after(store, mark) == []
    store.publish_dag(TEAM, spec(command="false"), fileloc="etl.py", code_version="c2", now=NOW)
    store.set_paused(TEAM, "etl", True)
    assert topics_after(store, mark) == [f"dag:{TEAM}/etl", f"dag:{TEAM}/etl"]


def test_a_new_dag_or_run_is_told_to_its_list_but_a_change_is_not(store: Store) -> None:
    """UI.md A.2.2 / A.2.9: the DAG list's and the runs list's "N new — show" bars follow
    `dags:<team>` and `runs:<team>` (`dags`, `runs` across teams): told when a DAG appears
    (or comes back) and when a run is created, not when either merely changes."""
    run = new_run(store)
    first = topics_after(store, 0)
    assert first.count(f"dags:{TEAM}") == first.count("dags") == 1
    assert first.count(f"runs:{TEAM}") == first.count("runs") == 1
    mark = store.last_change_id()
    store.set_run_state(run.id, RunState.RUNNING, NOW)
    store.publish_dag(TEAM, spec(command="false"), fileloc="etl.py", code_version="c2", now=NOW)
    later = topics_after(store, mark)
    assert f"dag:{TEAM}/etl" in later
    assert not {f"dags:{TEAM}", "dags", f"runs:{TEAM}", "runs"} & set(later)
    store.retire_dags(TEAM, fileloc="etl.py")
    mark = store.last_change_id()
    store.publish_dag(TEAM, spec(), fileloc="etl.py", code_version="c3", now=NOW)
    assert sorted(topics_after(store, mark)) == sorted([f"dag:{TEAM}/etl", f"dags:{TEAM}", "dags"])


def test_import_errors_are_recorded_when_they_come_change_or_go(store: Store) -> None:
    mark = store.last_change_id()
    error = {"lineno": 1, "message": "boom", "traceback": "", "now": NOW}
    store.record_import_error(TEAM, "bad.py", **error)  # type: ignore[arg-type]
    store.record_import_error(TEAM, "bad.py", **error)  # type: ignore[arg-type]
    store.clear_import_error(TEAM, "bad.py")
    store.clear_import_error(TEAM, "bad.py")
    assert topics_after(store, mark) == ["import-errors", "import-errors"]


def test_the_feed_fans_out_each_change_to_the_streams_of_its_topic(store: Store) -> None:
    feed = ChangeFeed(store)
    feed.load()
    run = new_run(store)
    got: list[list[Change] | None] = []
    other: list[list[Change] | None] = []
    feed.subscribe([f"run:{run.id}"], got.append)
    feed.subscribe(["repo:elsewhere"], other.append)
    feed.poll_once()
    assert [[c.topic for c in batch] for batch in got if batch] == [[f"run:{run.id}"]]
    assert other == []
    assert feed.last_id == store.last_change_id()
    feed.close()
    assert got[-1] is None and other == [None]  # a closing feed ends its streams


def test_a_short_gap_is_replayed_and_an_old_one_asks_for_a_resync(store: Store) -> None:
    feed = ChangeFeed(store, keep=8)
    feed.load()
    start = feed.last_id
    # eight changes: the DAG published (the DAG, dags:<team>, dags); its run, the DAG, health,
    # runs:<team>, runs
    run = new_run(store)
    feed.poll_once()
    assert [c.topic for c in feed.since(start, [f"run:{run.id}"]) or []] == [f"run:{run.id}"]
    store.set_run_state(run.id, RunState.RUNNING, NOW)
    feed.poll_once()  # three more: the first ones no longer fit
    assert feed.since(start, [f"run:{run.id}"]) is None
    assert feed.since(feed.last_id, ["health"]) == []
    assert feed.since(feed.last_id + 5, ["health"]) is None  # from another database


def test_a_restarted_feed_replays_from_the_outbox(store: Store) -> None:
    run = new_run(store)
    before = store.last_change_id()
    store.set_run_state(run.id, RunState.RUNNING, NOW)
    feed = ChangeFeed(store)
    feed.load()
    assert [c.topic for c in feed.since(before, [f"run:{run.id}"]) or []] == [f"run:{run.id}"]


def test_pruning_keeps_the_newest_change(store: Store) -> None:
    new_run(store)
    newest = store.last_change_id()
    store.prune_changes(datetime.now(UTC) + timedelta(days=1))
    assert store.changes_after(0) == [(newest, store.changes_after(newest - 1)[0][1])]
    store.set_paused(TEAM, "etl", True)
    assert store.last_change_id() > newest  # ids are never reused


def test_a_waiter_wakes_when_another_writer_commits(store: Store) -> None:
    waiter = store.change_waiter()
    try:
        writer = threading.Thread(target=new_run, args=(store,))
        writer.start()
        assert waiter.wait(10)
        writer.join()
    finally:
        waiter.close()


def test_topics_of_teams_a_caller_cannot_see_are_dropped_like_missing_ones(
    store: Store, tmp_path: Path
) -> None:
    run = new_run(store)
    ti = run.tasks["a"]
    topics = LiveTopics(store, open_object_store(f"file://{tmp_path}"), lambda: NOW)
    asked = [
        f"run:{run.id}",
        f"attempt:{ti.id}/1",
        f"dag:{TEAM}/etl",
        "run:999999",  # no such run
        "dag:other/etl",
        "health",
        "import-errors",
        "bogus",
        f"dags:{TEAM}",
        f"runs:{TEAM}",
        "dags",  # across every team: only for a caller who sees them all
        "runs",
    ]
    mine = Scope(frozenset({TEAM}))
    assert topics.visible(mine, asked) == [
        *asked[:3],
        "health",
        "import-errors",
        f"dags:{TEAM}",
        f"runs:{TEAM}",
    ]
    theirs = Scope(frozenset({"other"}))
    # Another team's run reads exactly like a run that does not exist.
    assert topics.visible(theirs, asked) == ["dag:other/etl", "health", "import-errors"]
    assert topics.visible(Scope(), ["dags", "runs"]) == ["dags", "runs"]
    assert topics.follower(theirs, ti.id, 1, 0) is None


def test_notifications_are_coalesced_outside_the_changing_transactions(postgres_url: str) -> None:
    """PLATFORM.md H8: a burst of changes wakes listeners with at most one NOTIFY every
    NOTIFY_EVERY seconds per process, not one per transaction."""
    import time

    from brisa.store import changes, open_store

    store = open_store(postgres_url, migrate=True)
    listener = changes.Listener(store.engine)
    try:
        new_run(store)
        time.sleep(changes.NOTIFY_EVERY * 3)
        while listener.wait(0.01):  # what the run's creation sent
            pass
        began = time.monotonic()
        writes = 100
        for i in range(writes):  # a hundred transactions, each recording a change
            store.set_paused(TEAM, "etl", i % 2 == 0)
        woken = 0
        while listener.wait(changes.NOTIFY_EVERY * 5):
            woken += 1
        elapsed = time.monotonic() - began
        assert 1 <= woken <= elapsed / changes.NOTIFY_EVERY + 1
        assert woken < writes or elapsed > writes * changes.NOTIFY_EVERY
    finally:
        listener.close()
        store.close()
