"""PLATFORM K2 with the real scheduler and the Kubernetes executor against the fake API server:
never a second pod for one (ti, try), not even when the scheduler that relaunches a queued
attempt cannot know its pod existed (ADR 0040).

The interleaving of the flaky K8 chaos run ("pod brisa-default-26-1 created 2 times"), made
deterministic: a scheduler launches an attempt and dies before its next pass sees the
container run, so the attempt stays queued; the pod is deleted behind Brisa's back before
any executor that is still up sees it go; the scheduler that comes next (a restart here, an
adopter in the chaos run) finds a queued attempt with no pod after `relaunch_after` and
relaunches it. Before ADR 0040 that relaunch created the pod of the same try again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from brisa import DAG, container
from brisa.core.records import AttemptRef
from brisa.executor.kubernetes.executor import KubernetesExecutor
from brisa.testing.kube import FakeCluster
from brisa.testing.kube.cluster import executor_on
from brisa.testing.kube.fleet import PodRequests
from brisa.testing.server import wait_until
from system.inprocess import RELAUNCH_AFTER, InProcess

NS = "brisa"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="t", namespaces=(NS,)) as fake:
        yield fake


def kube_executor(cluster: FakeCluster, folder: Path) -> KubernetesExecutor:
    return executor_on(
        cluster, folder, NS, deployment="relaunch", kill_grace=0, delete_pods="always"
    ).start()


def on_kubernetes(brisa: InProcess, kube: KubernetesExecutor) -> None:
    """The system's scheduler (re)started with `kube` as its executor."""
    brisa.executor = kube  # type: ignore[assignment]
    brisa.scheduler = brisa.system.build_scheduler(kube)
    brisa.scheduler.describe_attempts = True  # as `[executor] kind = "kubernetes"` sets it
    brisa.scheduler.awake = lambda: brisa.awake


def passes_until(brisa: InProcess, what: str, done: object) -> None:
    def step() -> bool:
        brisa.scheduler.run_once()
        return bool(done())  # type: ignore[operator]

    wait_until(step, 15, what)


def running(cluster: FakeCluster, name: str) -> bool:
    pod = cluster.pod(NS, name)
    return pod is not None and (pod.get("status") or {}).get("phase") == "Running"


def test_a_relaunch_never_creates_the_pod_of_a_try_again(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    requests = PodRequests(cluster)
    brisa = InProcess(tmp_path / "home")
    kube = kube_executor(cluster, tmp_path)
    try:
        with DAG("lost", schedule=None, retries=0) as dag:
            container("c", "busybox:1.36", command=["sleep", "30"])
        brisa.publish(dag)
        on_kubernetes(brisa, kube)
        brisa.trigger("lost")
        brisa.scheduler.run_once()  # queued and launched
        first = "brisa-default-1-1"
        wait_until(lambda: running(cluster, first), 15, "the first try's pod to run")
        assert brisa.states("lost") == {"c": ("queued", 1)}  # no pass has seen it run

        kube.close()  # the scheduler dies; its pod is deleted while none watches
        cluster.state.delete_pod(NS, first, 0)
        kube = kube_executor(cluster, tmp_path)  # the next scheduler knows of no pod
        on_kubernetes(brisa, kube)
        brisa.clock.advance(RELAUNCH_AFTER + 1)  # a queued attempt with no pod: relaunched

        def created() -> Counter[str]:
            return Counter(r.pod for r in requests.seen if r.verb == "create")

        second = "brisa-default-1-2"
        passes_until(
            brisa, "a pod created again", lambda: created()[second] or created()[first] > 1
        )
        assert created() == {first: 1, second: 1}
        assert kube.alive() == {AttemptRef(1, 2)}
        attempt = brisa.task("lost", "c")["attempts"][0]
        assert attempt["state"] == "up_for_retry"  # an infrastructure failure: a free retry
        assert "pod lost" in attempt["error"] and first in attempt["error"]
    finally:
        kube.close()
        brisa.close()
