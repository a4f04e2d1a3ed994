"""Each try records the commit it ran, and a clear on the latest commit re-pins its run
(`Store.clear_tasks(pin=...)`, story 52): tries queued one by one or in a batch take their
run's commit as it is when they are queued; a re-pin from a stale read is refused. SQLite and
PostgreSQL (see conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.records import RunRecord
from brisa.core.states import TaskState
from brisa.errors import Conflict
from brisa.store import Store
from brisa.store.queueing import QueueItem

T = TaskState
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def publish(store: Store, commit: str, command: str) -> int:
    with DAG("pinned") as dag:
        shell("extract", "true") >> shell("load", command)
    spec = serialize(dag, "pinned.py")
    return store.publish_dag("data", spec, fileloc="pinned.py", code_version=commit, now=NOW)


def new_run(store: Store, version: int) -> RunRecord:
    return store.create_run(
        team="data",
        dag_id="pinned",
        version_id=version,
        run_id="r1",
        run_type="manual",
        logical_date=NOW,
        interval=(NOW - timedelta(days=1), NOW),
        conf={},
        task_ids=["extract", "load"],
        now=NOW,
        code_version="a" * 40,
    )


def test_tries_record_the_commit_their_run_had_when_queued(store: Store) -> None:
    first = publish(store, "a" * 40, "false")
    run = new_run(store, first)
    extract, load = run.tasks["extract"], run.tasks["load"]
    assert store.queue_task(load.id, expected=T.PENDING, try_number=0, now=NOW)
    store.queue_tasks([QueueItem(extract.id, T.PENDING, 0)], NOW)
    assert [a.code_version for a in store.list_attempts(load.id)] == ["a" * 40]
    assert [a.code_version for a in store.list_attempts(extract.id)] == ["a" * 40]

    latest = publish(store, "b" * 40, "true")
    current = store.get_run("data", "pinned", "r1")
    assert store.clear_tasks(current, ["load"], NOW, pin=(latest, "b" * 40)) == ["load"]
    repinned = store.get_run("data", "pinned", "r1")
    assert (repinned.version_id, repinned.code_version) == (latest, "b" * 40)
    store.queue_tasks([QueueItem(load.id, T.PENDING, 1)], NOW)
    assert [a.code_version for a in store.list_attempts(load.id)] == ["a" * 40, "b" * 40]
    assert [a.code_version for a in store.run_attempts(run.id)["load"]] == ["a" * 40, "b" * 40]

    with pytest.raises(Conflict, match="re-pinned meanwhile"):  # `current` still says A
        store.clear_tasks(current, ["extract"], NOW, pin=(latest, "b" * 40))
    assert store.get_run("data", "pinned", "r1").tasks["extract"].state is T.QUEUED
