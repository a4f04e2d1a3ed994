"""Log retention on the local object store, with file times set by hand and a fake clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from brisa.logs import layout
from brisa.logs.retention import EVERY, Pruned, Retention, prune
from brisa.objectstore.local import LocalObjectStore

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "logs")


def put(store: LocalObjectStore, key: str, data: bytes, modified: datetime) -> None:
    store.put(key, data)
    stamp = modified.timestamp()
    os.utime(store.root / key, (stamp, stamp))


def attempt(run: str, try_number: int = 1) -> str:
    return layout.attempt_prefix("team", "dag", run, "task", try_number)


def keys(store: LocalObjectStore) -> set[str]:
    return {info.key for info in store.list("")}


def test_prune_deletes_whole_attempts_last_written_before_the_cutoff(
    store: LocalObjectStore,
) -> None:
    put(store, attempt("old") + "full.log", b"x" * 100, NOW - 40 * DAY)
    put(store, attempt("old", 2) + "00000001.log", b"y" * 10, NOW - 31 * DAY)
    put(store, attempt("old", 2) + "00000002.log", b"z" * 5, NOW - 31 * DAY)
    put(store, attempt("new") + "full.log", b"kept", NOW - 29 * DAY)

    done = prune(store, NOW - 30 * DAY)

    assert done == Pruned(attempts=2, objects=3, bytes=115)
    assert keys(store) == {attempt("new") + "full.log"}


def test_an_attempt_still_writing_keeps_its_old_chunks(store: LocalObjectStore) -> None:
    # Deleting chunk 1 alone would shift every offset of the log its readers follow.
    put(store, attempt("long") + "00000001.log", b"first", NOW - 40 * DAY)
    put(store, attempt("long") + "00000002.log", b"latest", NOW - timedelta(minutes=1))

    assert prune(store, NOW - 30 * DAY) == Pruned(0, 0, 0)
    assert len(keys(store)) == 2


def test_prune_leaves_objects_outside_the_log_layout_alone(store: LocalObjectStore) -> None:
    put(store, "snapshots/repo/0123abcd.tar.gz", b"code", NOW - 400 * DAY)
    put(store, "team/dag/run/task/notes.txt", b"not a log", NOW - 400 * DAY)

    assert prune(store, NOW - DAY).objects == 0
    assert len(keys(store)) == 2


def test_a_dry_run_deletes_nothing_and_says_what_it_would_delete(
    store: LocalObjectStore,
) -> None:
    put(store, attempt("old") + "full.log", b"12345", NOW - 40 * DAY)

    assert prune(store, NOW - 30 * DAY, dry_run=True) == Pruned(1, 1, 5)
    assert keys(store) == {attempt("old") + "full.log"}


def test_prune_of_an_empty_store_finds_nothing(store: LocalObjectStore) -> None:
    assert prune(store, NOW) == Pruned(0, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def test_each_run_prunes_what_is_older_than_keep_at_that_time(store: LocalObjectStore) -> None:
    put(store, attempt("a") + "full.log", b"a", NOW - 8 * DAY)
    put(store, attempt("b") + "full.log", b"b", NOW - 7 * DAY + timedelta(minutes=30))
    clock = Clock()
    retention = Retention(store, 7 * DAY, clock=clock)

    assert retention.run() == Pruned(attempts=1, objects=1, bytes=1)
    assert keys(store) == {attempt("b") + "full.log"}

    clock.now += EVERY  # an hour later "b" is 7 days old too
    assert retention.run() == Pruned(attempts=1, objects=1, bytes=1)
    assert keys(store) == set()


def test_a_failing_prune_is_logged_and_the_next_run_tries_again(
    store: LocalObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    put(store, attempt("a") + "full.log", b"a", NOW - 8 * DAY)
    working = store.list

    def broken(prefix: str) -> list[object]:
        raise OSError("store down")

    store.list = broken  # type: ignore[method-assign,assignment]
    retention = Retention(store, DAY, clock=Clock())

    assert retention.run() is None
    assert "pruning logs older than" in caplog.text and "store down" in caplog.text
    store.list = working  # type: ignore[method-assign]
    assert retention.run() == Pruned(attempts=1, objects=1, bytes=1)
