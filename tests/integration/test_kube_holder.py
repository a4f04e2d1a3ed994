"""Two Kubernetes executors of one deployment against the fake API server, as two schedulers'
(ADR 0028): both see every pod, but only the one whose scheduler holds the namespace's lease
deletes a finished pod or collects an orphan (a pod whose task instance is not in the
database, once older than the grace period). A scheduler that lost its own lease between
deciding a launch and sending its create sends nothing (ADR 0040)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from brisa.core.records import AttemptRef
from brisa.core.spec import ContainerRun, TaskSpec
from brisa.executor.base import Attempt, LaunchRequest
from brisa.executor.kubernetes.executor import KubernetesExecutor
from brisa.testing.fakes import EPOCH
from brisa.testing.kube import FakeCluster
from brisa.testing.kube.cluster import executor_on
from brisa.testing.server import eventually, wait_until

NS = "brisa"


class Duties:
    def __init__(self, holds: bool, known: set[int], fences: list[object] | None = None) -> None:
        self.held, self.ids = holds, known
        self.fences = fences or []  # the scheduler's lease at each look (then: it holds)

    def holds(self, namespace: str) -> bool:
        return self.held

    def known(self, ti_ids: Collection[int]) -> set[int]:
        return set(ti_ids) & self.ids

    def may_launch(self, fence: object) -> bool:
        return self.fences.pop(0) == fence if self.fences else True


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="t", namespaces=(NS,)) as fake:
        yield fake


def executor(
    cluster: FakeCluster, tmp_path: Path, duties: Duties, grace: float = 600
) -> KubernetesExecutor:
    kube = executor_on(
        cluster, tmp_path, NS, deployment="shared", kill_grace=0, delete_pods="always",
        orphan_grace=grace,
    )  # fmt: skip
    kube.share(duties)
    return kube.start()


def request(ref: AttemptRef, *command: str) -> LaunchRequest:
    task = TaskSpec(f"t{ref.ti_id}", ContainerRun("alpine:3.20", command))
    attempt = Attempt("data", "d", "r", task.task_id, task, EPOCH, (EPOCH, EPOCH))
    return LaunchRequest(ref, "token", Path("x.log"), attempt=attempt)


def names(cluster: FakeCluster) -> set[str]:
    return {p["metadata"]["name"] for p in cluster.pods(NS)}


def test_only_the_holder_deletes_a_finished_pod(cluster: FakeCluster, tmp_path: Path) -> None:
    holder = executor(cluster, tmp_path, Duties(True, {1}), grace=600)
    other = executor(cluster, tmp_path, Duties(False, {1}), grace=600)
    ref = AttemptRef(1, 1)
    try:
        other.launch(request(ref, "true"))  # the attempt's owner launches it
        eventually(lambda: ref in other.observe().endings, what="the pod's end, to its owner")
        eventually(lambda: ref in holder.observe().endings, what="the pod's end, to the holder")
        other.release(ref)  # its outcome stored: the owner would delete it, were it the holder
        assert names(cluster) == {"brisa-data-1-1"}
        holder.release(ref)
        eventually(lambda: not names(cluster), what="the holder to delete the pod")
    finally:
        holder.close()
        other.close()


def test_the_holder_collects_pods_of_no_task_instance_after_the_grace(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    known, orphan = AttemptRef(1, 1), AttemptRef(99, 1)
    patient = executor(cluster, tmp_path, Duties(True, {1}), grace=600)
    other = executor(cluster, tmp_path, Duties(False, set()), grace=0)
    for ref in (known, orphan):
        other.launch(request(ref, "sleep", "30"))
    eventually(lambda: len(cluster.pods(NS)) == 2, what="two pods")
    eventually(lambda: {known, orphan} <= patient.alive(), what="the pods in the views")
    try:
        patient.observe()  # holds the namespace, but the pods are younger than its grace
        other.observe()  # would collect every pod at once, but holds nothing
        assert names(cluster) == {"brisa-data-1-1", "brisa-data-99-1"}
    finally:
        patient.close()
    holder = executor(cluster, tmp_path, Duties(True, {1}), grace=0)
    try:
        eventually(lambda: {known, orphan} <= holder.alive(), what="the pods in its view")
        holder.observe()  # the first look, as the lease is taken
        eventually(lambda: names(cluster) == {"brisa-data-1-1"}, what="the orphan deleted")
    finally:
        holder.close()
        other.close()


@pytest.mark.parametrize(
    ("now", "why"),
    [
        ("epoch 2", "its lease was taken again, at another epoch"),
        (None, "it has not renewed its lease in time (frozen between deciding and sending)"),
    ],
)
def test_a_create_is_sent_only_under_the_lease_it_was_decided_under(
    cluster: FakeCluster, tmp_path: Path, now: object, why: str
) -> None:
    stale = executor(cluster, tmp_path, Duties(False, {1}, [now]))
    ref = AttemptRef(1, 1)
    try:
        launch = request(ref, "sleep", "30")
        stale.launch(replace(launch, fence="epoch 1"))  # decided under epoch 1
        waiting = wait_until(lambda: stale.observe().waiting.get(ref), 10, "the refusal")
        assert waiting.reason == "Fenced", why
        assert "lease was not renewed in time" in waiting.message
        assert waiting.retry_at is not None  # its owner, if still it, sends it later
        eventually(lambda: ref not in stale.alive(), what="the launch answered")
        assert names(cluster) == set(), why
    finally:
        stale.close()


def test_a_create_under_a_lease_that_still_holds_is_sent(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    kube = executor(cluster, tmp_path, Duties(False, {1}, ["epoch 1"]))
    try:
        kube.launch(replace(request(AttemptRef(1, 1), "sleep", "30"), fence="epoch 1"))
        eventually(lambda: names(cluster) == {"brisa-data-1-1"}, what="the pod created")
    finally:
        kube.close()
