"""The object store's contract, and task logs read back from it.

Every test runs on the local folder store and on a real S3-compatible server (moto on
127.0.0.1, see conftest): the worker, the API and the CLI must not be able to tell them apart.
"""

from __future__ import annotations

import shutil
import time
import tracemalloc
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from brisa.errors import InvalidInput, NotFound
from brisa.logs import layout
from brisa.objectstore import ObjectInfo, ObjectStore, StoreUnavailable, open_object_store
from conftest import S3Server

MiB = 1024 * 1024
PREFIX = layout.attempt_prefix("data", "etl", "manual__1", "load", 1)

# ---------------------------------------------------------------------------------------------
# The port
# ---------------------------------------------------------------------------------------------


def test_put_then_get_returns_the_same_bytes(object_store: ObjectStore) -> None:
    data = bytes(range(256)) * 10
    object_store.put("a.bin", data)
    assert object_store.get("a.bin") == data


def test_get_reads_byte_ranges(object_store: ObjectStore) -> None:
    object_store.put("r.txt", b"0123456789")
    assert object_store.get("r.txt", 2, 5) == b"234"
    assert object_store.get("r.txt", 7) == b"789"
    assert object_store.get("r.txt", 0, 3) == b"012"
    assert object_store.get("r.txt", 8, 100) == b"89"  # an end past the object is clamped
    assert object_store.get("r.txt", 10) == b""  # a reader that caught up gets nothing new
    assert object_store.get("r.txt", 4, 4) == b""


def test_put_replaces_an_object_whole(object_store: ObjectStore) -> None:
    object_store.put("o.txt", b"a long first version")
    object_store.put("o.txt", b"short")
    assert object_store.get("o.txt") == b"short"
    assert [o.size for o in object_store.list("o.txt")] == [5]


def test_list_matches_a_string_prefix_sorted_by_key_with_sizes(object_store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    for key, size in [("a/b2", 2), ("a/b1", 1), ("a/bc/x", 3), ("a/c", 4), ("z", 5)]:
        object_store.put(key, b"x" * size)
    found = object_store.list("a/b")
    assert [(o.key, o.size) for o in found] == [("a/b1", 1), ("a/b2", 2), ("a/bc/x", 3)]
    assert all(o.modified > before and o.modified.tzinfo is not None for o in found)
    assert [o.key for o in object_store.list("a/")] == ["a/b1", "a/b2", "a/bc/x", "a/c"]
    assert [o.key for o in object_store.list("")] == ["a/b1", "a/b2", "a/bc/x", "a/c", "z"]


def test_list_of_a_missing_prefix_is_empty(object_store: ObjectStore) -> None:
    assert object_store.list("nothing/here/") == []
    object_store.put("some/key", b"1")
    assert object_store.list("some/other") == []


def test_delete_removes_objects_and_ignores_missing_ones(object_store: ObjectStore) -> None:
    for key in ("d/1", "d/2", "d/3"):
        object_store.put(key, b"x")
    object_store.delete(["d/1", "d/3", "d/never-written"])
    object_store.delete([])
    assert [o.key for o in object_store.list("d/")] == ["d/2"]
    with pytest.raises(NotFound):
        object_store.get("d/1")


def test_get_of_a_missing_key_is_not_found(object_store: ObjectStore) -> None:
    with pytest.raises(NotFound, match="missing/key"):
        object_store.get("missing/key")
    with pytest.raises(NotFound):
        object_store.get("missing/key", 5, 10)
    with pytest.raises(NotFound):
        object_store.get("missing/key", 3, 3)


def test_keys_nest_with_slashes(object_store: ObjectStore) -> None:
    object_store.put("team/dag/run/task/attempt=1/full.log", b"deep")
    object_store.put("team/dag/run2/task/attempt=1/full.log", b"other")
    assert object_store.get("team/dag/run/task/attempt=1/full.log") == b"deep"
    keys = [o.key for o in object_store.list("team/dag/run/")]
    assert keys == ["team/dag/run/task/attempt=1/full.log"]


@pytest.mark.parametrize("key", ["", "..", "a/../b", "a//b", "/a", "a/", "./a"])
def test_invalid_keys_are_refused(object_store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidInput, match="invalid object key"):
        object_store.put(key, b"x")
    with pytest.raises(InvalidInput):
        object_store.get(key)
    with pytest.raises(InvalidInput):
        object_store.delete([key])


def test_concurrent_writers_of_different_keys(object_store: ObjectStore) -> None:
    def write(writer: int) -> None:
        for n in range(10):
            object_store.put(f"w/{writer}/{n:02d}", f"{writer}:{n}".encode())

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    found = object_store.list("w/")
    assert [o.key for o in found] == [f"w/{w}/{n:02d}" for w in range(8) for n in range(10)]
    assert [object_store.get(o.key) for o in found] == [
        f"{w}:{n}".encode() for w in range(8) for n in range(10)
    ]


def test_a_local_store_writes_again_into_folders_removed_under_it(tmp_path: Path) -> None:
    store = open_object_store(f"file://{tmp_path}")
    store.put("team/dag/run/task/attempt=1/full.log", b"first")
    shutil.rmtree(tmp_path / "team" / "dag")  # e.g. an operator clearing old logs by hand
    store.put("team/dag/run/task/attempt=1/full.log", b"again")
    store.put("team/dag/run/task/attempt=2/full.log", b"next")
    assert store.get("team/dag/run/task/attempt=1/full.log") == b"again"
    assert store.get("team/dag/run/task/attempt=2/full.log") == b"next"
    assert [p.name for p in (tmp_path / "team/dag/run/task/attempt=1").iterdir()] == ["full.log"]


# ---------------------------------------------------------------------------------------------
# S3 only: prefixes, configuration from the environment, outages
# ---------------------------------------------------------------------------------------------


def test_s3_prefix_isolates_stores_in_one_bucket(s3_location: tuple[str, dict[str, str]]) -> None:
    location, options = s3_location
    bucket = location.removeprefix("s3://").split("/")[0]
    logs = open_object_store(f"s3://{bucket}/logs", options)
    snapshots = open_object_store(f"s3://{bucket}/code/snapshots", options)
    logs.put("k", b"log")
    snapshots.put("k", b"tarball")
    assert logs.get("k") == b"log"
    assert [o.key for o in snapshots.list("")] == ["k"]  # keys are relative to the prefix


def test_s3_settings_come_from_the_aws_environment(
    s3_location: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    location, options = s3_location
    monkeypatch.setenv("AWS_ENDPOINT_URL", options["endpoint_url"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    empty = {"endpoint_url": "", "region": "", "access_key_id": "", "secret_access_key": ""}
    store = open_object_store(location, empty)
    store.put("from-env", b"ok")
    assert store.get("from-env") == b"ok"


def test_s3_writes_to_a_missing_bucket_are_refused_with_a_hint(
    s3_location: tuple[str, dict[str, str]],
) -> None:
    _, options = s3_location
    store = open_object_store("s3://no-such-bucket/logs", options)
    with pytest.raises(StoreUnavailable, match="bucket does not exist"):
        store.put("k", b"x")


def test_s3_outage_is_reported_quickly_and_the_store_recovers(
    s3_server: S3Server, s3_location: tuple[str, dict[str, str]]
) -> None:
    location, options = s3_location
    secret = "Sup3r-Secret-Value"
    store = open_object_store(location, {**options, "secret_access_key": secret})
    store.put("before", b"1")
    s3_server.stop()
    try:
        calls = [lambda: store.put("k", b"x"), lambda: store.get("before"), lambda: store.list("")]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                call()
            assert time.monotonic() - started < 10  # the promise: short timeouts, no hang
            assert location in str(caught.value)
            assert secret not in str(caught.value) and "testing" not in str(caught.value)
    finally:
        s3_server.start()
    s3_server.create_bucket(location.removeprefix("s3://").split("/")[0])  # moto forgot it
    store.put("after", b"2")
    assert store.get("after") == b"2"


# ---------------------------------------------------------------------------------------------
# Task logs on both stores
# ---------------------------------------------------------------------------------------------


def ship(store: ObjectStore, *chunks: bytes, first: int = 1) -> None:
    for seq, chunk in enumerate(chunks, start=first):
        store.put(layout.chunk_key(PREFIX, seq), chunk)


def read_all(store: ObjectStore, limit: int, offset: int = 0) -> list[bytes]:
    pages = []
    while True:
        page, offset = layout.read(store, PREFIX, offset, limit)
        if not page:
            return pages
        pages.append(page)


def test_chunks_read_back_in_order_and_a_follower_gets_only_new_bytes(
    object_store: ObjectStore,
) -> None:
    assert layout.read(object_store, PREFIX) == (b"", 0)
    ship(object_store, b"line 1\n", b"line 2\nline ", b"3\n")
    data, offset = layout.read(object_store, PREFIX)
    assert (data, offset) == (b"line 1\nline 2\nline 3\n", 21)
    assert layout.read(object_store, PREFIX, offset) == (b"", 21)
    ship(object_store, b"line 4\n", b"line 5\n", first=4)
    assert layout.read(object_store, PREFIX, offset) == (b"line 4\nline 5\n", 35)
    assert layout.read(object_store, PREFIX, 10) == (b"e 2\nline 3\nline 4\nline 5\n", 35)


def test_full_log_is_preferred_over_chunks(object_store: ObjectStore) -> None:
    ship(object_store, b"chunk one\n", b"chunk two\n")
    object_store.put(PREFIX + layout.FULL, b"chunk one\nchunk two\nlast words\n")
    assert layout.read(object_store, PREFIX) == (b"chunk one\nchunk two\nlast words\n", 31)
    assert layout.read(object_store, PREFIX, 20) == (b"last words\n", 31)
    assert layout.read(object_store, PREFIX, 31) == (b"", 31)


def test_a_full_page_ends_on_a_line_boundary(object_store: ObjectStore) -> None:
    ship(object_store, b"first line\nsecond", b" line\nthird line\n")
    assert read_all(object_store, limit=15) == [b"first line\n", b"second line\n", b"third line\n"]
    assert read_all(object_store, limit=25) == [b"first line\nsecond line\n", b"third line\n"]


def test_a_page_without_newline_does_not_cut_a_utf8_character(object_store: ObjectStore) -> None:
    text = "ação→😀" * 8  # 1-, 2-, 3- and 4-byte characters, no newline
    ship(object_store, text.encode()[:50], text.encode()[50:])  # cut inside a character
    for limit in (5, 7, 16, 33):
        pages = read_all(object_store, limit)
        assert "".join(page.decode() for page in pages) == text  # each page decodes alone
        assert all(len(page) <= limit for page in pages)


def test_a_100_mib_log_is_read_page_by_page_in_bounded_memory(object_store: ObjectStore) -> None:
    line = b"%07d " + b"x" * 90 + b"\n"  # 104 bytes
    chunk = b"".join(line % n for n in range(MiB // len(line) + 1))[:MiB]
    for seq in range(1, 101):
        object_store.put(layout.chunk_key(PREFIX, seq), chunk)
    del chunk
    tracemalloc.start()
    try:
        offset, pages = 0, 0
        while True:
            page, offset = layout.read(object_store, PREFIX, offset, limit=MiB)
            if not page:
                break
            pages += 1
            assert page.endswith(b"\n") or offset == 100 * MiB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert offset == 100 * MiB and pages > 100
    assert peak < 8 * MiB, f"reading a 100 MiB log peaked at {peak / MiB:.1f} MiB"


class FinishesDuringRead:
    """A store on which the worker finishes (full.log in, chunks out) while a reader reads."""

    def __init__(self, store: ObjectStore) -> None:
        self.store, self.location, self.finished = store, store.location, False

    def put(self, key: str, data: bytes) -> None:
        self.store.put(key, data)

    def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        if not self.finished and not key.endswith(layout.FULL):
            self.finished = True
            chunks = self.store.list(PREFIX)
            self.store.put(PREFIX + layout.FULL, b"".join(self.store.get(o.key) for o in chunks))
            self.store.delete(o.key for o in chunks)
        return self.store.get(key, start, end)

    def list(self, prefix: str) -> list[ObjectInfo]:
        return self.store.list(prefix)

    def delete(self, keys: Iterable[str]) -> None:
        self.store.delete(keys)


def test_a_reader_racing_the_end_of_the_task_gets_the_whole_log(object_store: ObjectStore) -> None:
    ship(object_store, b"one\n", b"two\n", b"three\n")
    racing = FinishesDuringRead(object_store)
    assert layout.read(racing, PREFIX, 2) == (b"e\ntwo\nthree\n", 14)
    assert racing.finished
    assert [o.key for o in object_store.list(PREFIX)] == [PREFIX + layout.FULL]
