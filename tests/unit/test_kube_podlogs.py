"""Logs from `pods/log` (`executor.kubernetes.podlogs`): a worker pod that died before its
last log chunk has its log completed from the pod's own log, the counterpart of the local
executor's spool sweep; a container task's followed output reaches the store whole."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from brisa.executor.kubernetes.api import NotFound, Unreachable
from brisa.executor.kubernetes.holder import orphans
from brisa.executor.kubernetes.podlogs import ContainerLog, WorkerLogJob, complete_worker_log
from brisa.logs import layout
from brisa.logs.config import ShippingConfig
from brisa.logs.echo import encode
from brisa.objectstore import open_object_store

ATTEMPT = ("data", "etl", "manual__1", "load", 1)
LINES = b"".join(f"2026-12-07T03:00:0{i}Z line {i}\n".encode() for i in range(8))
# The pod's log: what the worker printed itself, and its log echoed in frames.
POD_LOG = b"worker starting\n" + b"".join([*encode(0, LINES[:90]), *encode(90, LINES[90:])])


def test_a_log_cut_short_is_completed_from_the_pods_log_once(tmp_path: Path) -> None:
    store = open_object_store(f"file://{tmp_path}")
    prefix = layout.attempt_prefix(*ATTEMPT)
    store.put(layout.chunk_key(prefix, 1), LINES[:60])  # shipped before the pod died

    recovered = complete_worker_log(store, prefix, POD_LOG, 1 << 20, pod="brisa-data-7-1")

    text, _ = layout.read(store, prefix)
    assert recovered == len(LINES) - 60
    assert text.startswith(LINES) and text.count(b" line ") == 8
    assert "the executor shipped the last" in text.decode().splitlines()[-1]
    assert [o.key for o in store.list(prefix)] == [prefix + layout.FULL]
    assert complete_worker_log(store, prefix, POD_LOG, 1 << 20, pod="brisa-data-7-1") is None


def test_a_pods_log_without_the_missing_bytes_adds_only_the_closing_line(tmp_path: Path) -> None:
    store = open_object_store(f"file://{tmp_path}")
    prefix = layout.attempt_prefix(*ATTEMPT)
    store.put(layout.chunk_key(prefix, 1), LINES[:60])

    assert complete_worker_log(store, prefix, b"no frames\n", 1 << 20, pod="p") == 0

    text, _ = layout.read(store, prefix)
    assert text.startswith(LINES[:60] + b"\n") and text[60:].count(b"\n") == 2  # the line ends
    assert b"held none of what was missing" in text


class Runs:
    """A completion that fails `failures` times (the store unavailable), then succeeds."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.calls, self.failures = 0, failures
        self.error = error or OSError("the log store is unavailable")

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error


def polled(job: WorkerLogJob) -> bool:
    may_go = job.poll()
    job.wait(5)
    return may_go


def test_the_pod_stays_until_its_log_is_completed_and_a_failure_is_tried_again_later() -> None:
    now = [0.0]
    run = Runs(failures=1)
    job = WorkerLogJob(run, name="p", clock=lambda: now[0], retry_after=30)
    assert not polled(job)  # the first try fails: the pod holds the log, it stays
    assert not polled(job) and run.calls == 1  # not tried again before 30 s
    now[0] = 30.0
    assert not polled(job) and run.calls == 2  # tried again: this time it is complete
    assert job.poll() and run.calls == 2


def test_a_pod_that_is_gone_or_a_log_that_cannot_be_completed_for_long_lets_the_pod_go() -> None:
    gone = WorkerLogJob(Runs(1, NotFound(404, "NotFound", "pod p")), name="p")
    assert not polled(gone) and gone.poll()
    now = [0.0]
    stuck = WorkerLogJob(Runs(99), name="p", clock=lambda: now[0], retry_after=30, give_up_after=60)
    for now[0] in (0.0, 30.0, 60.0):
        polled(stuck)
    assert stuck.poll()


def test_an_orphan_is_a_pod_of_no_task_instance_older_than_the_grace() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def pod(name: str, ti: int, age: float | None) -> dict[str, Any]:
        created = None if age is None else (now - timedelta(seconds=age)).isoformat()
        labels = {"app.kubernetes.io/managed-by": "brisa", "brisa.dev/ti": str(ti)}
        labels["brisa.dev/try"] = "1"
        return {"metadata": {"name": name, "labels": labels, "creationTimestamp": created}}

    asked: list[set[int]] = []

    def known(ids: Collection[int]) -> set[int]:
        asked.append(set(ids))
        return {1}

    pods = [pod("old-known", 1, 900), pod("old-orphan", 2, 900), pod("young", 3, 10)]
    pods += [pod("undated", 4, None), {"metadata": {"name": "not-brisa", "labels": {}}}]
    assert orphans(pods, known, now, 600) == ["old-orphan"]
    assert asked == [{1, 2}]  # only pods old enough are looked up
    assert orphans([pod("young", 3, 10)], known, now, 600) == [] and len(asked) == 1


class FlakyLog:
    """`pod_log` of a container that wrote `output` and has ended: the first stream is cut
    (Unreachable) after `first` bytes, as an API server blip does; later ones give it all."""

    def __init__(self, output: bytes, first: int) -> None:
        self.output, self.first, self.opened = output, first, 0

    def pod_log(
        self, namespace: str, name: str, container: str | None = None, follow: bool = False
    ) -> Iterator[bytes]:
        self.opened += 1
        if self.opened == 1:
            yield self.output[: self.first]
            raise Unreachable(0, "Unreachable", "reading the log: the stream was cut")
        yield self.output


class GoneLog:
    """`pod_log` of a pod deleted after its first stream ended."""

    def __init__(self, output: bytes) -> None:
        self.output, self.opened = output, 0

    def pod_log(
        self, namespace: str, name: str, container: str | None = None, follow: bool = False
    ) -> Iterator[bytes]:
        self.opened += 1
        if self.opened > 1:
            raise NotFound(404, "NotFound", "pods brisa-data-7-1 not found")
        yield self.output


def follow_to_the_end(api: Any, tmp_path: Path, finished: Callable[[], bool]) -> bytes:
    config = ShippingConfig(location=f"file://{tmp_path / 'logs'}")
    follower = ContainerLog(
        api, "ns", "brisa-data-7-1", "base", ATTEMPT, config, tmp_path / "spool",
        finished=finished,
    )  # fmt: skip
    follower.start()
    assert follower.done.wait(60), "the follower did not finish"
    store = config.open_store()
    prefix = layout.attempt_prefix(*ATTEMPT)
    assert [o.key for o in store.list(prefix)] == [prefix + layout.FULL]
    return store.get(prefix + layout.FULL)


def test_a_stream_cut_before_the_container_ended_is_read_again_to_its_end(
    tmp_path: Path,
) -> None:
    # The stream is cut after "first"; the container writes "second" and ends before the
    # follower looks: the rest is read from a stream opened after the end, not dropped.
    api = FlakyLog(b"first\nsecond\n", first=6)

    log = follow_to_the_end(api, tmp_path, finished=lambda: api.opened >= 1)

    assert log == b"first\nsecond\n"
    assert api.opened == 2


def test_a_pod_gone_after_its_stream_ended_leaves_the_log_with_what_was_read(
    tmp_path: Path,
) -> None:
    api = GoneLog(b"first\nsecond\n")

    log = follow_to_the_end(api, tmp_path, finished=lambda: api.opened >= 1)

    assert log == b"first\nsecond\n"
