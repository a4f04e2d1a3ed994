"""The metadata store's contract. Every test runs on SQLite and on PostgreSQL (see conftest).

What is checked is what a user of the store would notice: versions that stay put, guarded state
changes that lose races cleanly, work items with the right inputs, and UTC instants.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from brisa import DAG, shell, task
from brisa.authoring.serialize import serialize
from brisa.core.records import AttemptRef, RunRecord, TaskRecord
from brisa.core.spec import Binding, DagSpec, PythonCall, structure_version
from brisa.core.states import RunState, TaskState
from brisa.errors import Conflict, InvalidInput, NotFound
from brisa.store import Store, open_store
from brisa.store.migrate import MIGRATIONS, upgrade
from brisa.store.tables import dag_versions, metadata

R, T = RunState, TaskState
TEAM = "data"
NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
TASKS = ["audit", "extract", "load", "report"]


def etl_spec(dag_id: str = "etl", *, fileloc: str = "etl.py", region: str = "eu") -> DagSpec:
    """A real serialized DAG: load(extract(), region) runs after audit; report after load."""
    with DAG(dag_id, description="nightly load") as dag:

        @task
        def extract() -> list[int]:
            return [1, 2]

        @task
        def load(rows: list[int], region: str) -> int:
            return len(rows)

        loaded = load(extract(), region=region)
        shell("audit", "true") >> loaded >> shell("report", "echo done")
    return serialize(dag, fileloc)


def publish(
    store: Store,
    spec: DagSpec | None = None,
    *,
    team: str = TEAM,
    code_version: str = "c1",
    now: datetime = NOW,
) -> int:
    spec = spec or etl_spec()
    return store.publish_dag(team, spec, fileloc=spec.fileloc, code_version=code_version, now=now)


def new_run(
    store: Store,
    run_id: str = "manual__1",
    *,
    dag_id: str = "etl",
    logical_date: datetime = NOW,
    run_type: str = "manual",
) -> RunRecord:
    version_id = publish(store, etl_spec(dag_id, fileloc=f"{dag_id}.py"))
    return store.create_run(
        team=TEAM,
        dag_id=dag_id,
        version_id=version_id,
        run_id=run_id,
        run_type=run_type,
        logical_date=logical_date,
        interval=(logical_date - timedelta(days=1), logical_date),
        conf={"region": "eu"},
        task_ids=TASKS,
        now=NOW,
        code_version="c1",
    )


def task_of(store: Store, run: RunRecord, task_id: str) -> TaskRecord:
    return store.get_run_by_pk(run.id).tasks[task_id]


def queue(store: Store, run: RunRecord, task_id: str, now: datetime = NOW) -> AttemptRef:
    ti = task_of(store, run, task_id)
    assert store.queue_task(ti.id, expected=ti.state, try_number=ti.try_number, now=now)
    return AttemptRef(ti.id, ti.try_number + 1)


def start(store: Store, run: RunRecord, task_id: str, now: datetime = NOW) -> AttemptRef:
    ref = queue(store, run, task_id, now)
    store.start_attempt(ref, hostname="worker-1", pid=100, now=now)
    return ref


def finish(
    store: Store,
    run: RunRecord,
    task_id: str,
    state: TaskState = T.SUCCESS,
    return_value: Any = None,
) -> AttemptRef:
    ref = start(store, run, task_id)
    assert store.finish_attempt(ref, state, now=NOW, return_value=return_value)
    return ref


# --- migrations --------------------------------------------------------------------------------


def test_upgrade_is_idempotent_and_keeps_data(database_url: str) -> None:
    store = open_store(database_url)
    try:
        upgrade(store.engine)
        version_id = publish(store)
        upgrade(store.engine)
        assert store.get_dag(TEAM, "etl").version_id == version_id
        with store.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        assert current == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    finally:
        store.close()


def test_migrations_build_the_schema_that_tables_py_describes(store: Store) -> None:
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


# --- catalog: versions -------------------------------------------------------------------------


def test_publishing_the_same_spec_again_returns_the_same_version(store: Store) -> None:
    first = publish(store)
    again = publish(store, now=LATER)
    assert again == first
    dag = store.get_dag(TEAM, "etl")
    assert (dag.version_id, dag.last_parsed_at, dag.code_version) == (first, LATER, "c1")
    assert dag.spec == etl_spec()
    # Stored as the serializer wrote it, hashed as before specs were typed.
    row = _version_row(store, first)
    assert row["spec"] == etl_spec().to_json()
    assert row["structure_hash"] == dag.structure_hash == structure_version(row["spec"])
    assert store.version_spec(first) is dag.spec  # decoded once per version


def _version_row(store: Store, version_id: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(dag_versions).where(dag_versions.c.id == version_id)).one()
    return dict(row._mapping)


def test_a_changed_spec_gets_a_new_version_and_a_new_commit_moves_the_dag(store: Store) -> None:
    v1 = publish(store, etl_spec(region="eu"), code_version="c1")
    row1 = _version_row(store, v1)
    v2 = publish(store, etl_spec(region="us"), code_version="c1", now=LATER)
    # The same structure in a later commit shares its version row; the DAG moves to the commit.
    v3 = publish(store, etl_spec(region="us"), code_version="c2", now=LATER)
    assert v1 != v2 and v3 == v2
    dag = store.get_dag(TEAM, "etl")
    assert (dag.version_id, dag.code_version) == (v2, "c2")
    # Going back to the first structure reuses its row; no version row was ever rewritten.
    assert publish(store, etl_spec(region="eu"), code_version="c3", now=LATER) == v1
    assert _version_row(store, v1) == row1
    assert store.get_dag(TEAM, "etl").code_version == "c3"
    specs = store.get_specs([v1, v2])
    bodies = {v: (spec.tasks["load"].body, code) for v, (spec, code) in specs.items()}
    loads = {
        v: (body.kwargs["region"], code)
        for v, (body, code) in bodies.items()
        if isinstance(body, PythonCall)
    }
    assert loads == {v1: (Binding(value="eu"), "c1"), v2: (Binding(value="us"), "c1")}


def test_advancing_a_repository_moves_its_dags_and_import_errors_only(store: Store) -> None:
    store.publish_dag(TEAM, etl_spec(), fileloc="etl.py", code_version="a1", now=NOW, repo="r1")
    other = etl_spec("other", fileloc="other.py")
    store.publish_dag(TEAM, other, fileloc="other.py", code_version="b1", now=NOW, repo="r2")
    store.record_import_error(
        TEAM, "bad.py", lineno=1, message="x", traceback="", now=NOW, repo="r1", code_version="a1"
    )
    assert store.advance_code_version("r1", "a2") == 1
    assert store.advance_code_version("r1", "a2") == 0
    versions = {d.dag_id: (d.repo, d.code_version) for d in store.list_dags()}
    assert versions == {"etl": ("r1", "a2"), "other": ("r2", "b1")}
    [error] = store.list_import_errors(TEAM)
    assert (error.repo, error.code_version) == ("r1", "a2")


def test_a_run_is_pinned_to_the_commit_of_its_dag(store: Store) -> None:
    version_id = store.publish_dag(
        TEAM, etl_spec(), fileloc="etl.py", code_version="a1", now=NOW, repo="r1"
    )
    run = store.create_run(
        team=TEAM,
        dag_id="etl",
        version_id=version_id,
        run_id="manual__1",
        run_type="manual",
        logical_date=NOW,
        interval=(NOW, NOW),
        conf={},
        task_ids=TASKS,
        now=NOW,
        repo="r1",
        code_version="a1",
    )
    store.advance_code_version("r1", "a2")
    assert (store.get_run(TEAM, "etl", "manual__1").code_version, run.repo) == ("a1", "r1")
    assert store.pinned_code_versions("r1") == {"a1", "a2"}  # the run, the DAG
    assert store.pinned_code_versions("r2") == set()


def test_repository_status_counts_failures_and_keeps_the_commit(store: Store) -> None:
    store.register_repo("r1", team=TEAM, url="file:///x.git")
    with pytest.raises(NotFound):
        store.request_sync("nope", NOW)
    store.record_sync(
        "r1",
        team=TEAM,
        url="file:///x.git",
        sha="a1",
        published=True,
        error=None,
        kind=None,
        now=NOW,
    )
    for _ in range(2):
        store.record_sync(
            "r1",
            team=TEAM,
            url="file:///x.git",
            sha="a1",
            published=False,
            error="unreachable",
            kind="network",
            now=LATER,
        )
    store.request_sync("r1", LATER)
    [status] = store.list_repos()
    assert (status.current_sha, status.consecutive_failures, status.error_kind) == (
        "a1",
        2,
        "network",
    )
    assert (status.last_success_at, status.published_at) == (NOW, NOW)
    assert store.sync_requested_at("r1") == LATER


def test_a_dag_id_active_in_another_file_of_the_team_conflicts(store: Store) -> None:
    publish(store, etl_spec(fileloc="a.py"))
    with pytest.raises(Conflict, match=r"'etl' is already defined in a\.py"):
        publish(store, etl_spec(fileloc="b.py"))
    assert store.get_dag(TEAM, "etl").fileloc == "a.py"

    publish(store, etl_spec(fileloc="b.py"), team="ml")
    assert [(d.team, d.fileloc) for d in store.list_dags()] == [(TEAM, "a.py"), ("ml", "b.py")]

    # Once a.py no longer defines it, another file may.
    store.retire_dags(TEAM, fileloc="a.py")
    publish(store, etl_spec(fileloc="b.py"))
    assert store.get_dag(TEAM, "etl").fileloc == "b.py"


# --- catalog: retiring DAGs and import errors --------------------------------------------------


def test_retire_dags_of_a_file_keeps_the_ones_still_defined(store: Store) -> None:
    for dag_id in ("x", "y"):
        publish(store, etl_spec(dag_id, fileloc="multi.py"))
    publish(store, etl_spec("z", fileloc="other.py"))
    store.retire_dags(TEAM, fileloc="multi.py", keep=["x"])
    assert [d.dag_id for d in store.list_dags(TEAM)] == ["x", "z"]
    everything = store.list_dags(TEAM, include_inactive=True)
    assert [(d.dag_id, d.is_active) for d in everything] == [("x", True), ("y", False), ("z", True)]
    with pytest.raises(NotFound, match="data/y"):
        store.get_dag(TEAM, "y")
    with pytest.raises(NotFound):
        store.set_paused(TEAM, "y", True)
    publish(store, etl_spec("y", fileloc="multi.py"))
    assert store.get_dag(TEAM, "y").is_active


def _import_error(store: Store, team: str, filename: str, lineno: int = 3) -> None:
    store.record_import_error(
        team,
        filename,
        lineno=lineno,
        message="SyntaxError: bad",
        traceback="Traceback ...",
        now=NOW,
    )


def test_retire_dags_of_files_no_longer_present(store: Store) -> None:
    publish(store, etl_spec("a", fileloc="a.py"))
    publish(store, etl_spec("b", fileloc="b.py"))
    publish(store, etl_spec("c", fileloc="c.py"), team="ml")
    for team, filename in ((TEAM, "gone.py"), (TEAM, "kept.py"), ("ml", "gone.py")):
        _import_error(store, team, filename)
    store.retire_dags(TEAM, present_files=["a.py", "kept.py"])
    assert [(d.team, d.dag_id) for d in store.list_dags()] == [(TEAM, "a"), ("ml", "c")]
    errors = store.list_import_errors()
    assert [(e.team, e.filename) for e in errors] == [(TEAM, "kept.py"), ("ml", "gone.py")]


def test_import_errors_are_recorded_replaced_cleared_and_listed_per_team(store: Store) -> None:
    _import_error(store, TEAM, "bad.py", lineno=3)
    _import_error(store, TEAM, "bad.py", lineno=7)
    _import_error(store, "ml", "bad.py")
    [mine] = store.list_import_errors(TEAM)
    assert (mine.filename, mine.lineno, mine.message) == ("bad.py", 7, "SyntaxError: bad")
    assert mine.traceback == "Traceback ..." and mine.created_at == NOW
    assert [e.team for e in store.list_import_errors()] == [TEAM, "ml"]
    store.clear_import_error(TEAM, "bad.py")
    assert store.list_import_errors(TEAM) == []
    assert [e.team for e in store.list_import_errors()] == ["ml"]


def test_an_import_error_keeps_its_first_seen_while_the_file_still_fails(store: Store) -> None:
    """A.2.11: each error shows when its file was first and last seen failing; a re-parse of
    the still-failing file (even with another message) keeps the first; once resolved, a new
    failure starts again."""

    def fail(at: datetime, message: str) -> None:
        store.record_import_error(TEAM, "bad.py", lineno=1, message=message, traceback="", now=at)

    later, latest = NOW + timedelta(minutes=5), NOW + timedelta(hours=2)
    fail(NOW, "SyntaxError: bad")
    fail(later, "SyntaxError: bad")
    fail(latest, "ImportError: no module named x")
    [error] = store.list_import_errors(TEAM)
    assert (error.first_seen, error.created_at, error.message) == (
        NOW,
        latest,
        "ImportError: no module named x",
    )
    store.clear_import_error(TEAM, "bad.py")
    fail(latest + timedelta(days=1), "SyntaxError: bad")
    [again] = store.list_import_errors(TEAM)
    assert again.first_seen == again.created_at == latest + timedelta(days=1)


def test_pausing_a_dag(store: Store) -> None:
    publish(store)
    assert store.set_paused(TEAM, "etl", True).is_paused
    assert store.get_dag(TEAM, "etl").is_paused
    assert not store.set_paused(TEAM, "etl", False).is_paused
    with pytest.raises(NotFound, match="data/nope"):
        store.set_paused(TEAM, "nope", True)
    with pytest.raises(NotFound):
        store.set_paused("ml", "etl", True)


# --- runs --------------------------------------------------------------------------------------


def test_create_run_creates_every_task_pending(store: Store) -> None:
    run = new_run(store)
    assert (run.state, run.run_type, run.conf) == (R.QUEUED, "manual", {"region": "eu"})
    assert (run.logical_date, run.data_interval_end) == (NOW, NOW)
    assert run.version_id == store.get_dag(TEAM, "etl").version_id
    assert sorted(run.tasks) == TASKS
    tasks = run.tasks.values()
    assert {(t.state, t.try_number, t.retry_base) for t in tasks} == {(T.PENDING, 0, 0)}
    assert store.get_run(TEAM, "etl", "manual__1") == run


def test_a_duplicate_run_id_conflicts(store: Store) -> None:
    new_run(store)
    with pytest.raises(Conflict, match="manual__1"):
        new_run(store)
    assert len(store.list_runs(TEAM, "etl")) == 1
    assert new_run(store, dag_id="other").run_id == "manual__1"  # run ids are per DAG


def test_list_runs_newest_first_with_limit_offset_and_state_filter(store: Store) -> None:
    days = [NOW + timedelta(days=n) for n in range(4)]
    runs = {n: new_run(store, f"r{n}", logical_date=days[n]) for n in (2, 0, 3, 1)}
    new_run(store, "elsewhere", dag_id="other")
    assert store.set_run_state(runs[1].id, R.RUNNING, NOW)

    def ids(**kwargs: Any) -> list[str]:
        return [r.run_id for r in store.list_runs(TEAM, "etl", **kwargs)]

    assert ids() == ["r3", "r2", "r1", "r0"]
    assert ids(limit=2) == ["r3", "r2"]
    assert ids(limit=2, offset=1) == ["r2", "r1"]
    assert ids(state="running") == ["r1"]
    assert ids(state="queued", limit=2) == ["r3", "r2"]
    assert store.list_runs(TEAM, "etl", limit=1)[0].tasks == {}
    assert sorted(store.list_runs(TEAM, "etl", limit=1, with_tasks=True)[0].tasks) == TASKS


def test_active_runs_are_queued_and_running_oldest_first(store: Store) -> None:
    days = [NOW + timedelta(days=n) for n in range(3)]
    queued = new_run(store, "queued", logical_date=days[2])
    running = new_run(store, "running", logical_date=days[0])
    done = new_run(store, "done", logical_date=days[1])
    assert store.set_run_state(running.id, R.RUNNING, NOW)
    assert store.set_run_state(done.id, R.SUCCESS, NOW)
    active = store.active_runs()
    assert [r.id for r in active] == [running.id, queued.id]
    assert all(sorted(r.tasks) == TASKS for r in active)


def test_schedule_state_gives_newest_scheduled_date_and_active_count(store: Store) -> None:
    days = [NOW + timedelta(days=n) for n in range(6)]
    old = new_run(store, "scheduled__0", run_type="scheduled", logical_date=days[0])
    new_run(store, "scheduled__1", run_type="scheduled", logical_date=days[1])
    new_run(store, "manual__5", run_type="manual", logical_date=days[5])  # not scheduled
    assert store.set_run_state(old.id, R.SUCCESS, NOW)
    finished = new_run(
        store, "scheduled__2", dag_id="other", run_type="scheduled", logical_date=days[2]
    )
    assert store.set_run_state(finished.id, R.FAILED, NOW)
    new_run(store, "manual__3", dag_id="manual_only", logical_date=days[3])

    state = store.schedule_state()
    assert state == {
        (TEAM, "etl"): (days[1], 2),
        (TEAM, "other"): (days[2], 0),
        (TEAM, "manual_only"): (None, 1),
    }
    last = state[(TEAM, "etl")][0]
    assert last is not None and last.utcoffset() == timedelta(0)


# --- guarded transitions -----------------------------------------------------------------------


def test_a_decision_taken_on_a_run_seen_queued_cannot_undo_its_cancel(store: Store) -> None:
    # The scheduler saw the run queued and decided to start it; a person cancelled it
    # between that snapshot and the update: the cancel stands.
    run = new_run(store)
    assert store.cancel_run(run, NOW)
    assert not store.set_run_state(run.id, R.RUNNING, LATER, expected=R.QUEUED)
    assert store.get_run_by_pk(run.id).state is R.CANCELLED
    # Likewise a run seen running and judged finished is not finished after a clear reopened it.
    assert store.set_run_state(run.id, R.RUNNING, LATER, expected=R.CANCELLED)
    assert not store.set_run_state(run.id, R.SUCCESS, LATER, expected=R.QUEUED)
    assert store.get_run_by_pk(run.id).state is R.RUNNING


def test_set_run_state_only_moves_along_the_transition_table(store: Store) -> None:
    run = new_run(store)
    assert store.set_run_state(run.id, R.RUNNING, NOW)
    assert not store.set_run_state(run.id, R.QUEUED, LATER)
    assert store.set_run_state(run.id, R.SUCCESS, LATER)
    assert not store.set_run_state(run.id, R.CANCELLED, LATER)
    done = store.get_run_by_pk(run.id)
    assert (done.state, done.start_date, done.end_date) == (R.SUCCESS, NOW, LATER)
    # Reopening keeps the first start and clears the end.
    assert store.set_run_state(run.id, R.RUNNING, LATER + timedelta(hours=1))
    reopened = store.get_run_by_pk(run.id)
    assert (reopened.state, reopened.start_date, reopened.end_date) == (R.RUNNING, NOW, None)


def test_set_task_state_loses_cleanly_on_a_stale_state_or_try(store: Store) -> None:
    run = new_run(store)
    ti = run.tasks["report"]
    assert not store.set_task_state(ti.id, T.SKIPPED, expected=T.QUEUED, try_number=0, now=NOW)
    assert not store.set_task_state(ti.id, T.SKIPPED, expected=T.PENDING, try_number=1, now=NOW)
    assert not store.set_task_state(ti.id, T.RUNNING, expected=T.PENDING, try_number=0, now=NOW)
    assert task_of(store, run, "report").state is T.PENDING
    assert store.set_task_state(ti.id, T.SKIPPED, expected=T.PENDING, try_number=0, now=NOW)
    assert not store.set_task_state(ti.id, T.SKIPPED, expected=T.PENDING, try_number=0, now=NOW)
    skipped = task_of(store, run, "report")
    assert (skipped.state, skipped.end_date) == (T.SKIPPED, NOW)


def test_set_task_state_to_retry_closes_the_attempt(store: Store) -> None:
    run = new_run(store)
    ref = start(store, run, "extract")
    assert store.set_task_state(
        ref.ti_id,
        T.UP_FOR_RETRY,
        expected=T.RUNNING,
        try_number=1,
        now=LATER,
        next_try_at=LATER,
        error="timed out",
    )
    ti = task_of(store, run, "extract")
    assert (ti.state, ti.next_try_at, ti.error) == (T.UP_FOR_RETRY, LATER, "timed out")
    [attempt] = store.list_attempts(ref.ti_id)
    assert (attempt.state, attempt.end_date, attempt.error) == (T.UP_FOR_RETRY, LATER, "timed out")


def test_queue_task_starts_a_new_try_with_its_attempt_row(store: Store) -> None:
    run = new_run(store)
    ti = run.tasks["extract"]
    assert store.queue_task(ti.id, expected=T.PENDING, try_number=0, now=NOW)
    assert not store.queue_task(ti.id, expected=T.PENDING, try_number=0, now=NOW)
    queued = task_of(store, run, "extract")
    assert (queued.state, queued.try_number, queued.queued_at) == (T.QUEUED, 1, NOW)
    assert store.set_task_state(
        ti.id,
        T.UP_FOR_RETRY,
        expected=T.QUEUED,
        try_number=1,
        now=NOW,
        next_try_at=LATER,
        error="lost",
    )
    assert store.queue_task(ti.id, expected=T.UP_FOR_RETRY, try_number=1, now=LATER)
    again = task_of(store, run, "extract")
    assert (again.try_number, again.queued_at, again.next_try_at, again.error) == (
        2,
        LATER,
        None,
        None,
    )
    attempts = store.list_attempts(ti.id)
    assert [(a.try_number, a.state, a.queued_at) for a in attempts] == [
        (1, T.UP_FOR_RETRY, NOW),
        (2, T.QUEUED, LATER),
    ]


# --- attempts ----------------------------------------------------------------------------------


def test_the_work_item_carries_the_values_of_a_list_or_dict_of_tasks(store: Store) -> None:
    with DAG("fan_in") as dag:

        @task
        def number() -> int:
            return 1

        @task
        def join(values: list[int], named: dict[str, int]) -> None:
            pass

        a, b, c = (number.override(task_id=name)() for name in ("a", "b", "c"))
        join([b, a], named={"k": c})
        number.override(task_id="unrelated")() >> dag.tasks["join"]
    version_id = publish(store, serialize(dag, "fan_in.py"))
    run = store.create_run(
        team=TEAM, dag_id="fan_in", version_id=version_id, run_id="manual__1",
        run_type="manual", logical_date=NOW, interval=(NOW, NOW), conf={},
        task_ids=["a", "b", "c", "join", "unrelated"], now=NOW, code_version="c1",
    )  # fmt: skip
    for task_id, value in (("a", 1), ("b", 2), ("c", 3), ("unrelated", 4)):
        finish(store, run, task_id, return_value=value)
    item = store.start_attempt(queue(store, run, "join"), hostname="w", pid=1, now=LATER)
    assert item.upstream_values == {"a": 1, "b": 2, "c": 3}


def test_start_attempt_marks_it_running_and_returns_the_work_item(store: Store) -> None:
    run = new_run(store)
    finish(store, run, "extract", return_value=[1, 2])
    finish(store, run, "audit", return_value="ok")
    ref = queue(store, run, "load")
    item = store.start_attempt(ref, hostname="worker-7", pid=4242, now=LATER)

    assert (item.team, item.dag_id, item.run_id, item.task_id) == (TEAM, "etl", "manual__1", "load")
    assert (item.try_number, item.fileloc, item.code_version) == (1, "etl.py", "c1")
    assert (item.logical_date, item.data_interval_end) == (NOW, NOW)
    assert item.data_interval_start == NOW - timedelta(days=1)
    assert item.params == {"region": "eu"}
    assert item.task == store.version_spec(run.version_id).tasks["load"]
    assert item.task.to_json()["kwargs"] == {"region": {"value": "eu"}}
    # Only tasks whose values the function takes are sent, not every upstream task.
    assert item.upstream_values == {"extract": [1, 2]}

    ti = task_of(store, run, "load")
    assert (ti.state, ti.start_date, ti.heartbeat_at) == (T.RUNNING, LATER, LATER)
    assert (ti.hostname, ti.pid) == ("worker-7", 4242)
    [attempt] = store.list_attempts(ti.id)
    assert (attempt.state, attempt.start_date, attempt.hostname, attempt.pid) == (
        T.RUNNING,
        LATER,
        "worker-7",
        4242,
    )


def test_start_attempt_again_succeeds_only_for_the_same_worker(store: Store) -> None:
    run = new_run(store)
    ref = start(store, run, "extract")
    assert store.start_attempt(ref, hostname="worker-1", pid=100, now=LATER).task_id == "extract"
    with pytest.raises(Conflict, match="no longer current"):
        store.start_attempt(ref, hostname="worker-2", pid=100, now=LATER)


def test_start_attempt_of_a_stale_try_conflicts(store: Store) -> None:
    run = new_run(store)
    first = queue(store, run, "extract")
    assert store.set_task_state(
        first.ti_id, T.UP_FOR_RETRY, expected=T.QUEUED, try_number=1, now=NOW
    )
    second = queue(store, run, "extract")
    with pytest.raises(Conflict, match=r"attempt 1 .* no longer current"):
        store.start_attempt(first, hostname="worker-1", pid=100, now=NOW)
    assert store.start_attempt(second, hostname="worker-1", pid=100, now=NOW).try_number == 2
    with pytest.raises(NotFound):
        store.start_attempt(AttemptRef(2**31 - 1, 1), hostname="worker-1", pid=100, now=NOW)


def test_heartbeat_is_false_once_the_attempt_is_not_current(store: Store) -> None:
    run = new_run(store)
    first = start(store, run, "extract")
    assert store.heartbeat(first, LATER)
    assert task_of(store, run, "extract").heartbeat_at == LATER
    store.clear_tasks(store.get_run_by_pk(run.id), ["extract"], LATER)
    assert not store.heartbeat(first, LATER)
    second = start(store, run, "extract")
    assert not store.heartbeat(first, LATER)
    assert store.heartbeat(second, LATER)
    assert store.finish_attempt(second, T.SUCCESS, now=LATER)
    assert not store.heartbeat(second, LATER)


def test_finish_attempt_of_a_stale_try_cannot_overwrite_a_newer_one(store: Store) -> None:
    run = new_run(store)
    first = start(store, run, "extract")
    assert store.finish_attempt(first, T.UP_FOR_RETRY, now=NOW, error="boom", next_try_at=LATER)
    second = start(store, run, "extract", now=LATER)
    assert not store.finish_attempt(first, T.FAILED, now=LATER, error="late report")
    assert task_of(store, run, "extract").state is T.RUNNING
    assert store.finish_attempt(second, T.SUCCESS, now=LATER, return_value={"rows": 2})
    assert not store.finish_attempt(second, T.FAILED, now=LATER)
    ti = task_of(store, run, "extract")
    assert (ti.state, ti.try_number, ti.end_date, ti.error) == (T.SUCCESS, 2, LATER, None)
    assert store.return_value(ti.id) == {"rows": 2}
    attempts = store.list_attempts(ti.id)
    assert [(a.try_number, a.state, a.error) for a in attempts] == [
        (1, T.UP_FOR_RETRY, "boom"),
        (2, T.SUCCESS, None),
    ]
    with pytest.raises(ValueError, match="not an outcome"):
        store.finish_attempt(second, T.RUNNING, now=LATER)


# --- operations: cancel, clear, mark -----------------------------------------------------------


def test_cancel_run_cancels_unfinished_tasks_only(store: Store) -> None:
    run = new_run(store)
    assert store.set_run_state(run.id, R.RUNNING, NOW)
    finish(store, run, "extract")
    running = start(store, run, "audit")
    queue(store, run, "load")
    assert store.cancel_run(store.get_run_by_pk(run.id), LATER)
    assert not store.cancel_run(store.get_run_by_pk(run.id), LATER)

    cancelled = store.get_run_by_pk(run.id)
    assert (cancelled.state, cancelled.end_date) == (R.CANCELLED, LATER)
    assert {t: ti.state for t, ti in cancelled.tasks.items()} == {
        "extract": T.SUCCESS,
        "audit": T.CANCELLED,
        "load": T.CANCELLED,
        "report": T.CANCELLED,
    }
    assert not store.heartbeat(running, LATER)
    assert store.list_attempts(running.ti_id)[0].state is T.CANCELLED
    assert store.list_attempts(cancelled.tasks["load"].id)[0].state is T.CANCELLED
    assert store.list_attempts(cancelled.tasks["extract"].id)[0].state is T.SUCCESS


def _failed_run(store: Store) -> RunRecord:
    """A finished run: extract succeeded, load failed, audit succeeded, report upstream_failed."""
    run = new_run(store)
    assert store.set_run_state(run.id, R.RUNNING, NOW)
    finish(store, run, "extract", return_value=[1])
    finish(store, run, "audit")
    finish(store, run, "load", T.FAILED)
    report = run.tasks["report"]
    assert store.set_task_state(
        report.id, T.UPSTREAM_FAILED, expected=T.PENDING, try_number=0, now=NOW
    )
    assert store.set_run_state(run.id, R.FAILED, NOW)
    return store.get_run_by_pk(run.id)


def test_clear_tasks_resets_them_and_reopens_the_run(store: Store) -> None:
    run = _failed_run(store)
    assert store.clear_tasks(run, ["load", "extract"], LATER) == ["extract", "load"]
    after = store.get_run_by_pk(run.id)
    assert (after.state, after.end_date) == (R.RUNNING, None)
    for tid in ("extract", "load"):
        ti = after.tasks[tid]
        assert (ti.state, ti.try_number, ti.retry_base, ti.end_date) == (T.PENDING, 1, 1, None)
    assert after.tasks["audit"].state is T.SUCCESS
    assert after.tasks["report"].state is T.UPSTREAM_FAILED
    assert queue(store, after, "load").try_number == 2


def test_clear_tasks_rejects_unknown_task_ids_and_changes_nothing(store: Store) -> None:
    run = _failed_run(store)
    with pytest.raises(InvalidInput, match="nope; its tasks are: audit, extract, load, report"):
        store.clear_tasks(run, ["load", "nope"], LATER)
    after = store.get_run_by_pk(run.id)
    assert (after.state, after.tasks["load"].state) == (R.FAILED, T.FAILED)


def test_clear_tasks_reopens_a_run_that_finished_after_it_was_read(store: Store) -> None:
    run = new_run(store)
    assert store.set_run_state(run.id, R.RUNNING, NOW)
    finish(store, run, "extract", T.FAILED)
    seen = store.get_run_by_pk(run.id)  # what the operator's screen shows: still running
    assert store.set_run_state(run.id, R.FAILED, NOW)  # the scheduler finishes the run meanwhile
    store.clear_tasks(seen, ["extract"], LATER)
    after = store.get_run_by_pk(run.id)
    assert after.tasks["extract"].state is T.PENDING
    assert after.state is R.RUNNING  # else the pending task would never be scheduled


def test_clear_tasks_stops_a_running_attempt(store: Store) -> None:
    run = new_run(store)
    ref = start(store, run, "extract")
    store.clear_tasks(store.get_run_by_pk(run.id), ["extract"], LATER)
    assert not store.finish_attempt(ref, T.SUCCESS, now=LATER)
    ti = task_of(store, run, "extract")
    assert (ti.state, ti.retry_base) == (T.PENDING, 1)
    [attempt] = store.list_attempts(ti.id)
    assert (attempt.state, attempt.error) == (T.CANCELLED, "cleared")


def test_mark_tasks_success_or_failed_reopens_the_run(store: Store) -> None:
    run = _failed_run(store)
    assert store.mark_tasks(run, ["load", "extract"], T.SUCCESS, LATER) == ["load"]
    after = store.get_run_by_pk(run.id)
    assert after.state is R.RUNNING
    assert (after.tasks["load"].state, after.tasks["load"].end_date) == (T.SUCCESS, LATER)
    with pytest.raises(InvalidInput, match="success or failed"):
        store.mark_tasks(after, ["report"], T.SKIPPED, LATER)
    with pytest.raises(InvalidInput, match="nope"):
        store.mark_tasks(after, ["nope"], T.FAILED, LATER)


def test_marking_a_running_task_failed_stops_its_attempt(store: Store) -> None:
    run = new_run(store)
    ref = start(store, run, "extract")
    assert store.mark_tasks(store.get_run_by_pk(run.id), ["extract"], T.FAILED, LATER) == [
        "extract"
    ]
    assert task_of(store, run, "extract").state is T.FAILED
    assert not store.heartbeat(ref, LATER)
    [attempt] = store.list_attempts(ref.ti_id)
    assert (attempt.state, attempt.error) == (T.FAILED, "marked failed by hand")


# --- time --------------------------------------------------------------------------------------


def test_datetimes_come_back_as_the_same_instants_in_utc(store: Store) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5)))
    version_id = publish(store, now=when)
    store.record_import_error(TEAM, "bad.py", lineno=1, message="m", traceback="t", now=when)
    run = store.create_run(
        team=TEAM,
        dag_id="etl",
        version_id=version_id,
        run_id="r",
        run_type="scheduled",
        logical_date=when,
        interval=(when, when),
        conf={},
        task_ids=TASKS,
        now=when,
    )
    assert store.set_run_state(run.id, R.RUNNING, when)
    ref = queue(store, run, "extract", now=when)
    item = store.start_attempt(ref, hostname="w", pid=1, now=when)
    assert store.finish_attempt(ref, T.UP_FOR_RETRY, now=when, next_try_at=when)
    run = store.get_run_by_pk(run.id)
    ti = run.tasks["extract"]
    [attempt] = store.list_attempts(ti.id)
    values = {
        "dag.last_parsed_at": store.get_dag(TEAM, "etl").last_parsed_at,
        "import_error.created_at": store.list_import_errors()[0].created_at,
        **{
            f"run.{k}": getattr(run, k)
            for k in (
                "logical_date",
                "data_interval_start",
                "data_interval_end",
                "created_at",
                "start_date",
            )
        },
        **{
            f"task.{k}": getattr(ti, k)
            for k in ("queued_at", "start_date", "end_date", "next_try_at", "heartbeat_at")
        },
        **{f"attempt.{k}": getattr(attempt, k) for k in ("queued_at", "start_date", "end_date")},
        "work_item.logical_date": item.logical_date,
        "schedule_state": store.schedule_state()[(TEAM, "etl")][0],
    }
    wrong = {
        k: v for k, v in values.items() if v is None or v != when or v.utcoffset() != timedelta(0)
    }
    assert wrong == {}, f"expected {when.astimezone(UTC)} in UTC"


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        publish(store, now=NOW.replace(tzinfo=None))
    assert store.list_dags() == []


# --- concurrency -------------------------------------------------------------------------------


def test_of_threads_racing_to_queue_a_task_exactly_one_wins(store: Store, store_url: str) -> None:
    run = new_run(store)
    racers = 6
    barriers = {tid: threading.Barrier(racers) for tid in TASKS}

    def scheduler() -> dict[str, bool]:
        # Each thread is its own scheduler with its own engine, as separate processes would be.
        own = open_store(store_url, pool_size=1)
        try:
            won = {}
            for tid in TASKS:
                barriers[tid].wait(timeout=15)
                ti = run.tasks[tid]
                won[tid] = own.queue_task(ti.id, expected=T.PENDING, try_number=0, now=NOW)
            return won
        finally:
            own.close()

    with ThreadPoolExecutor(max_workers=racers) as pool:
        results = [f.result() for f in [pool.submit(scheduler) for _ in range(racers)]]
    assert {tid: sum(r[tid] for r in results) for tid in TASKS} == dict.fromkeys(TASKS, 1)
    for ti in store.get_run_by_pk(run.id).tasks.values():
        assert (ti.state, ti.try_number) == (T.QUEUED, 1)
        assert [a.try_number for a in store.list_attempts(ti.id)] == [1]


def test_workers_are_told_where_the_dag_files_are_even_by_an_api_without_repo_tables(
    store: Store,
) -> None:
    from brisa.control.execution import ExecutionService, Worker
    from brisa.repos.config import RepoSettings

    store.register_repo("dags", team=TEAM, url="file:///srv/dags.git", subdir="pipelines")
    run = new_run(store)  # pinned to commit c1 of repository 'dags'
    ref = queue(store, run, "load")
    bare = ExecutionService(store, lambda: LATER, max_return_bytes=1000)
    item = bare.start(Worker(ref, None), hostname="w", pid=1)
    assert (item.code.repo, item.code.sha, item.code.subdir) == ("dags", "c1", "pipelines")
    assert item.code.url == "file:///srv/dags.git"

    configured = RepoSettings(name="dags", url="file:///elsewhere.git", subdir="other")
    other = ExecutionService(
        store, lambda: LATER, max_return_bytes=1000, sources={"dags": configured}
    )
    assert other.start(Worker(ref, None), hostname="w", pid=1).code.subdir == "other"  # config wins
