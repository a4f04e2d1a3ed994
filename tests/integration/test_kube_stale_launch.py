"""The K8 chaos run's "pod brisa-default-26-1 created 2 times", replayed step by step with two
real schedulers on PostgreSQL and the Kubernetes executor against the fake API server
(ADR 0040).

A scheduler commits the queueing of an attempt and is frozen (SIGSTOP) before its create is
sent. Its lease expires; the other scheduler adopts the queued attempt and, no pod being
there after `relaunch_after`, relaunches it; that try's pod runs, ends, its outcome is stored
and the pod deleted (the chaos DAG's `c5` is OOM killed half a second after it starts). Then
the frozen scheduler resumes and sends its create. Before ADR 0040 that made a second pod of
the same try: the create was sent under a lease lost meanwhile, and the adopter's relaunch
had created the pod of that try itself. Now the late create is not sent (its lease no longer
holds at the epoch that decided it) and the adopter's relaunch, which cannot know whether a
pod of that try existed, ends the attempt as "pod lost": its retry is the next try.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from brisa import DAG, container
from brisa.authoring.serialize import serialize
from brisa.core.leases import Identity
from brisa.core.planner import Limits
from brisa.core.records import AttemptRef
from brisa.executor.base import LaunchRequest
from brisa.scheduler.configured import _share_namespaces
from brisa.scheduler.ha import LeaseKeeper
from brisa.scheduler.loop import Scheduler
from brisa.store import Store, open_store
from brisa.testing.fakes import EPOCH, FakeClock
from brisa.testing.kube import FakeCluster
from brisa.testing.kube.cluster import executor_on
from brisa.testing.kube.fleet import PodRequests

NS = "brisa"
TTL = 1.0  # the schedulers' lease, on the database's clock
FIRST, SECOND = "brisa-default-1-1", "brisa-default-1-2"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="t", namespaces=(NS,)) as fake:
        yield fake


class Awake:
    """A scheduler's own awake clock: real time, plus the seconds it was stopped for."""

    def __init__(self) -> None:
        self.stopped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.stopped


def scheduler(
    store: Store, cluster: FakeCluster, folder: Path, pid: int, clock: FakeClock, awake: Awake
) -> Scheduler:
    folder.mkdir(parents=True)
    kube = executor_on(
        cluster, folder, NS, deployment="stale", kill_grace=0, delete_pods="always"
    ).start()
    keeper = LeaseKeeper(
        store, ttl=TTL, awake=awake, identity=Identity("box", pid, 7), start_time_of=lambda p: 7
    )
    _share_namespaces(kube, keeper)  # as `[executor] kind = "kubernetes"` does
    keeper.start()
    return Scheduler(
        store, kube, clock=clock, logs_folder=folder / "spool", limits=Limits(free_infra_retries=3),
        awake=awake, describe_attempts=True, keeper=keeper, sees_every_host=True,
    )  # fmt: skip


def trigger(store: Store) -> None:
    with DAG("stale", schedule=None, retries=0) as dag:
        container("c", "busybox:1.36", command=["true"])
    version = store.publish_dag("default", serialize(dag, "stale.py"), fileloc="stale.py",
                                code_version="", now=EPOCH)  # fmt: skip
    store.create_run(
        team="default", dag_id="stale", version_id=version, run_id="r1", run_type="manual",
        logical_date=EPOCH, interval=(EPOCH - timedelta(days=1), EPOCH), conf={},
        task_ids=["c"], now=EPOCH,
    )  # fmt: skip


def passes_until(scheduler: Scheduler, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not done():
        assert time.monotonic() < deadline, f"waited 20s for {what}"
        scheduler.run_once()
        time.sleep(0.05)


def test_a_scheduler_frozen_between_queueing_and_creating_makes_no_second_pod(
    cluster: FakeCluster, tmp_path: Path, postgres_url: str
) -> None:
    requests = PodRequests(cluster)

    def created() -> Counter[str]:
        return Counter(r.pod for r in requests.seen if r.verb == "create")

    store = open_store(postgres_url, migrate=True)
    clock, awake = FakeClock(), Awake()
    adopter = scheduler(store, cluster, tmp_path / "adopter", 2, clock, Awake())  # the holder
    frozen = scheduler(store, cluster, tmp_path / "frozen", 1, clock, awake)
    launch = frozen.executor.launch

    def stopped_before_the_create(request: LaunchRequest) -> None:
        # SIGSTOP right after the queueing committed: the lease expires on the database's
        # clock, and the adopter's passes run while this one is stopped.
        awake.stopped += 10 * TTL
        time.sleep(TTL + 0.3)
        clock.advance(Limits().relaunch_after + 1)
        passes_until(
            adopter,
            lambda: bool(created()[SECOND] or (created()[FIRST] and not cluster.pod(NS, FIRST))),
            "the adopter to end the first try (its pod, if it made one, run and deleted)",
        )
        launch(request)  # SIGCONT: the pass goes on where it stopped

    frozen.executor.launch = stopped_before_the_create  # type: ignore[method-assign]
    try:
        trigger(store)
        frozen.run_once()  # queues the task, is frozen, resumes and launches
        deadline = time.monotonic() + 10
        while frozen.executor.alive() and time.monotonic() < deadline:
            time.sleep(0.05)  # its create, if sent, is answered
        assert created()[FIRST] <= 1, f"{FIRST} created {created()[FIRST]} times"
        waiting = frozen.executor.observe().waiting
        assert waiting[AttemptRef(1, 1)].reason == "Fenced"  # not sent: its lease was lost
        passes_until(adopter, lambda: bool(created()[SECOND]), "the next try's pod")
        assert created() == {SECOND: 1}  # the adopter did not create the first try's either
        lost = store.tasks_by_id({1})[1]
        assert (lost.state, lost.try_number) in (("queued", 2), ("running", 2), ("success", 2))
    finally:
        for s in (frozen, adopter):
            s.executor.close()  # type: ignore[attr-defined]
        store.close()
