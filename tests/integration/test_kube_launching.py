"""The Kubernetes executor against the fake API server, on what delays or ends a launch: a
create the API server refuses (a quota's 403) comes back later each time, a pod that
cannot be placed waits its team's own pending timeout, and a relaunch never creates a pod
that may have existed (ADR 0040)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brisa.core.observations import Waiting
from brisa.core.records import AttemptRef
from brisa.core.spec import ContainerRun, TaskSpec
from brisa.executor.base import Attempt, LaunchRequest
from brisa.executor.kubernetes.executor import KubernetesExecutor
from brisa.executor.kubernetes.launching import relaunch_delay
from brisa.executor.kubernetes.manifest import PodConfig
from brisa.testing.fakes import EPOCH
from brisa.testing.kube import FakeCluster, Unschedulable
from brisa.testing.kube.cluster import executor_on
from brisa.testing.kube.fleet import PodRequests
from brisa.testing.server import eventually, wait_until

NS = "brisa"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="t", namespaces=(NS,)) as fake:
        yield fake


def executor(cluster: FakeCluster, tmp_path: Path, **config: object) -> KubernetesExecutor:
    return executor_on(
        cluster, tmp_path, NS, deployment="launching", kill_grace=1, **config
    ).start()


def request(
    ref: AttemptRef, team: str = "data", *, relaunch: bool = False, command: str = "sleep 30"
) -> LaunchRequest:
    task = TaskSpec(f"t{ref.ti_id}", ContainerRun("alpine:3.20", tuple(command.split())))
    attempt = Attempt(team, "d", "r", task.task_id, task, EPOCH, (EPOCH, EPOCH))
    return LaunchRequest(ref, "token", Path("x.log"), attempt=attempt, relaunch=relaunch)


def waiting(kube: KubernetesExecutor, ref: AttemptRef) -> Waiting:
    return wait_until(lambda: kube.observe().waiting.get(ref), 10, "the refusal")


def test_a_refused_create_is_tried_again_later_each_time_up_to_a_cap() -> None:
    ref = AttemptRef(7, 1)
    delays = [relaunch_delay(n, ref) for n in range(1, 12)]
    assert delays == sorted(delays) and delays[1] == 2 * delays[0]
    assert 5 * 0.75 <= delays[0] <= 5 * 1.25 and delays[-1] == delays[-2] <= 300 * 1.25
    # Attempts refused together are spread.
    assert len({relaunch_delay(1, AttemptRef(n, 1)) for n in range(20)}) > 10


def test_a_quota_refusal_waits_with_its_reason_and_backs_off(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    kube = executor(cluster, tmp_path)
    ref = AttemptRef(1, 1)
    try:
        cluster.api.forbid("create", "pods")
        kube.launch(request(ref))
        first = waiting(kube, ref)
        assert first.reason == "Forbidden" and "create refused once" in first.message
        assert first.retry_at is not None
        gap = (first.retry_at - first.since).total_seconds()
        assert gap == pytest.approx(relaunch_delay(1, ref), abs=0.01)
        eventually(lambda: ref not in kube.alive(), what="the create answered")
        kube.launch(request(ref, relaunch=True))  # the scheduler's relaunch, once due
        second = wait_until(
            lambda: (w := kube.observe().waiting.get(ref)) and w.since > first.since and w,
            10,
            "the second refusal",
        )
        assert "create refused 2 times in a row" in second.message
        assert second.retry_at is not None
        assert (second.retry_at - second.since).total_seconds() == pytest.approx(2 * gap, abs=0.01)
        cluster.api.allow("create", "pods")
        eventually(lambda: ref not in kube.alive(), what="the create answered")
        kube.launch(request(ref, relaunch=True))  # its create was refused: sent again
        eventually(lambda: ref not in kube.observe().waiting, what="the pod created")
        assert len(cluster.pods(NS)) == 1
    finally:
        kube.close()


def test_each_team_waits_its_own_pending_timeout(cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.inject(Unschedulable())
    kube = executor(cluster, tmp_path, pending_timeout=600.0, team_pending_timeouts={"ml": 1.0})
    quick, patient = AttemptRef(1, 1), AttemptRef(2, 1)
    try:
        kube.launch(request(quick, team="ml"))
        kube.launch(request(patient, team="data"))
        ended = wait_until(lambda: kube.observe().endings.get(quick), 10, "ml's timeout")
        assert ended.reason.startswith("pending for more than 1s (pending_timeout): Unschedulable")
        assert kube.observe().waiting[patient].reason == "Unschedulable"
        assert patient not in kube.observe().endings
    finally:
        kube.close()


def test_a_team_namespace_that_does_not_exist_fails_that_attempt_only(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    def pods_of(team: str) -> PodConfig:
        return PodConfig(NS if team == "data" else "ml-jobs", "ghcr.io/acme/brisa:test")

    kube = executor(cluster, tmp_path, pod_config=pods_of)
    lost, fine = AttemptRef(1, 1), AttemptRef(2, 1)
    try:
        kube.launch(request(lost, team="ml"))  # first seen now: checked here, and missing
        kube.launch(request(fine, team="data"))
        ended = kube.observe().endings[lost]
        assert not ended.success and not ended.infrastructure
        assert ended.reason == (
            "namespace 'ml-jobs' does not exist; create it or fix [kubernetes] namespace"
        )
        assert lost not in kube.alive()
        wait_until(lambda: cluster.pods(NS), 10, "the other team's pod")
        # Created meanwhile: the next launch uses it.
        cluster.create_namespace("ml-jobs")
        kube.release(lost)
        kube.launch(request(AttemptRef(1, 2), team="ml"))
        wait_until(lambda: cluster.pods("ml-jobs"), 10, "the pod in the new namespace")
    finally:
        kube.close()


def test_a_relaunch_never_creates_a_pod_that_may_have_existed(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    """ADR 0040: a relaunch whose create this executor did not see refused adopts the pod the
    API server has (launched by another scheduler, not in this view yet) and leaves an ended
    one to tell its ending; with no pod at all, the attempt's pod is lost: an infrastructure
    failure, never a second create of that name."""
    requests = PodRequests(cluster)
    other = executor(cluster, tmp_path)
    kube = executor(cluster, tmp_path)
    live, ended, lost = AttemptRef(1, 1), AttemptRef(2, 1), AttemptRef(3, 1)
    try:
        other.launch(request(live))
        other.launch(request(ended, command="true"))
        eventually(lambda: ended in kube.observe().endings, what="the ended pod in the view")
        kube.launch(request(live, relaunch=True))
        kube.launch(request(ended, relaunch=True))
        kube.launch(request(lost, relaunch=True))
        gone = wait_until(lambda: kube.observe().endings.get(lost), 10, "the lost pod's ending")
        assert gone.infrastructure and not gone.success
        assert gone.reason.startswith("infrastructure failure (pod lost): pod brisa-data-3-1 ")
        eventually(lambda: live in kube.alive(), what="the live pod adopted")
        assert kube.observe().endings[ended].success  # its own ending, not a new pod
        created = [r.pod for r in requests.seen if r.verb == "create"]
        assert sorted(created) == ["brisa-data-1-1", "brisa-data-2-1"]
    finally:
        kube.close()
        other.close()
