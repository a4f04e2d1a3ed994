"""The contract of the `Executor` port (`brisa.executor.base`), run against every executor.

What the scheduler relies on: a launched attempt is alive until its worker ends; launching a
live attempt again starts nothing; a kill ends it; a worker that dies on its own stops being
alive; a new executor (the scheduler restarted) finds the workers that kept running and can
kill them; a relaunch leaves the attempt alive again or ended; closing an executor leaves its
workers running.

Each implementation comes with a driver: it builds executors over one shared "world" (the
process table, the cluster) and can make a worker die behind the executor's back. The local
executor runs real processes (`sleep` in its own session, standing in for `brisa task run`);
the fake executor of `brisa.testing` runs over its process table in memory; the Kubernetes
executor talks real HTTP to the fake API server of `brisa.testing.kube`, whose kubelet runs
each pod's container (a container task: a shell loop standing in for a worker) as a process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pytest

from brisa.core.records import AttemptRef
from brisa.core.spec import ContainerRun, TaskSpec
from brisa.executor.base import Attempt, Executor, LaunchRequest
from brisa.executor.kubernetes.api import ApiAccess, connect
from brisa.executor.kubernetes.executor import KubeConfig, KubernetesExecutor
from brisa.executor.kubernetes.manifest import PodConfig
from brisa.executor.local.executor import LocalExecutor
from brisa.testing.fakes import EPOCH, FakeExecutor, FakeProcesses
from brisa.testing.kube import FakeCluster
from brisa.testing.server import eventually

PARALLELISM = 4


class Driver(Protocol):
    def executor(self) -> Executor:
        """A new executor over the same world: a second one is the scheduler restarted."""

    def request(self, ref: AttemptRef) -> LaunchRequest: ...

    def die(self, ref: AttemptRef) -> None:
        """The attempt's worker ends on its own, without the executor being asked."""

    def workers(self, ref: AttemptRef) -> int:
        """How many worker processes run for the attempt, seen from the world itself."""


# --- the local executor ----------------------------------------------------------------------


class SleepLauncher:
    """Starts `sleep` in a new session instead of a worker, and remembers which attempt each
    process is for (from the `brisa task run` arguments it is given)."""

    def __init__(self) -> None:
        self.children: dict[AttemptRef, list[subprocess.Popen[bytes]]] = {}

    def start(self, argv: list[str], env: Mapping[str, str], log_path: Path, token: str) -> int:
        ref = AttemptRef(int(argv[argv.index("--ti") + 1]), int(argv[argv.index("--try") + 1]))
        child = subprocess.Popen(["sleep", "60"], start_new_session=True)
        self.children.setdefault(ref, []).append(child)
        return child.pid

    def kill_all(self) -> None:  # not `close`: the executor closes its launcher
        for child in (c for children in self.children.values() for c in children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


class LocalDriver:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.launcher = SleepLauncher()

    def executor(self) -> Executor:
        return LocalExecutor(
            scope="contract",
            parallelism=PARALLELISM,
            state_dir=self.tmp_path / "workers",
            kill_grace=0.5,
            launch=self.launcher,
        )

    def request(self, ref: AttemptRef) -> LaunchRequest:
        return LaunchRequest(ref, "token", self.tmp_path / "spool" / f"{ref.ti_id}.log")

    def _live(self, ref: AttemptRef) -> list[subprocess.Popen[bytes]]:
        return [c for c in self.launcher.children.get(ref, []) if c.poll() is None]

    def die(self, ref: AttemptRef) -> None:
        for child in self._live(ref):
            child.kill()
            child.wait()

    def workers(self, ref: AttemptRef) -> int:
        return len(self._live(ref))


# --- the fake executor -----------------------------------------------------------------------


class FakeDriver:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes = FakeProcesses()

    def executor(self) -> Executor:
        return FakeExecutor(PARALLELISM, processes=self.processes)

    def request(self, ref: AttemptRef) -> LaunchRequest:
        return LaunchRequest(ref, "token", self.tmp_path / f"{ref.ti_id}.log")

    def die(self, ref: AttemptRef) -> None:
        self.processes.exit(ref)

    def workers(self, ref: AttemptRef) -> int:
        return int(ref in self.processes.live)


# --- the Kubernetes executor ------------------------------------------------------------------


class KubeDriver:
    """Pods of container tasks whose command loops until a file of the attempt exists (then
    it ends by itself: `die`)."""

    NAMESPACE = "brisa"

    def __init__(self, tmp_path: Path, cluster: FakeCluster) -> None:
        self.tmp_path = tmp_path
        self.cluster = cluster
        (tmp_path / "token").write_text(cluster.token or "")
        self.executors: list[KubernetesExecutor] = []
        self.requests: Counter[AttemptRef] = Counter()

    def executor(self) -> Executor:
        access = ApiAccess(server=self.cluster.url, token_file=str(self.tmp_path / "token"))
        config = KubeConfig(
            deployment="contract",
            pod_config=lambda team: PodConfig(self.NAMESPACE, "ghcr.io/acme/brisa:test"),
            namespaces=(self.NAMESPACE,),
            parallelism=PARALLELISM,
            kill_grace=1,
        )
        executor = KubernetesExecutor(connect(access), config).start()
        self.executors.append(executor)
        return executor

    def _stop_file(self, ref: AttemptRef) -> Path:
        """The file that ends the worker of the latest launch request of `ref`."""
        return self.tmp_path / f"ended-{ref.ti_id}-{ref.try_number}-{self.requests[ref]}"

    def request(self, ref: AttemptRef) -> LaunchRequest:
        self.requests[ref] += 1
        script = f"while [ ! -e {self._stop_file(ref)} ]; do sleep 0.05; done"
        body = ContainerRun("alpine:3.20", ("sh", "-c", script))
        task = TaskSpec(f"t{ref.ti_id}", body)
        attempt = Attempt("data", "d", "r", task.task_id, task, EPOCH, (EPOCH, EPOCH))
        return LaunchRequest(ref, "token", self.tmp_path / "x.log", attempt=attempt)

    def die(self, ref: AttemptRef) -> None:
        self._stop_file(ref).touch()

    def workers(self, ref: AttemptRef) -> int:
        return sum(
            p["metadata"]["labels"].get("brisa.dev/ti") == str(ref.ti_id)
            and p["metadata"]["labels"].get("brisa.dev/try") == str(ref.try_number)
            and p["status"].get("phase") in ("Pending", "Running")
            and "deletionTimestamp" not in p["metadata"]
            for p in self.cluster.pods(self.NAMESPACE)
        )


@pytest.fixture(params=["local", "fake", "kubernetes"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    if request.param == "local":
        local = LocalDriver(tmp_path)
        try:
            yield local
        finally:
            local.launcher.kill_all()
    elif request.param == "kubernetes":
        with FakeCluster(token="contract", namespaces=(KubeDriver.NAMESPACE,)) as cluster:
            kube = KubeDriver(tmp_path, cluster)
            try:
                yield kube
            finally:
                for executor in kube.executors:
                    executor.close()
    else:
        yield FakeDriver(tmp_path)


A, B = AttemptRef(1, 1), AttemptRef(2, 1)


# --- the contract ----------------------------------------------------------------------------


def test_it_has_the_parallelism_it_was_given(driver: Driver) -> None:
    assert driver.executor().parallelism == PARALLELISM


def test_a_launched_attempt_is_alive_and_nothing_else_is(driver: Driver) -> None:
    executor = driver.executor()
    assert executor.alive() == frozenset()
    executor.launch(driver.request(A))
    assert executor.alive() == {A}
    eventually(lambda: driver.workers(A) == 1, what="its worker started")


def test_launching_a_live_attempt_again_starts_no_second_worker(driver: Driver) -> None:
    """PLATFORM.md H5: a launch replayed three times — twice by its executor, once by the
    executor of a scheduler that took over — yields one worker (process or pod)."""
    executor = driver.executor()
    executor.launch(driver.request(A))
    executor.launch(driver.request(A))
    eventually(lambda: driver.workers(A) == 1, what="its worker started")
    successor = driver.executor()
    successor.launch(driver.request(A))
    assert executor.alive() == {A} and successor.alive() == {A}
    assert driver.workers(A) == 1


def test_each_try_is_its_own_attempt(driver: Driver) -> None:
    executor = driver.executor()
    retry = AttemptRef(A.ti_id, A.try_number + 1)
    executor.launch(driver.request(A))
    executor.launch(driver.request(retry))
    assert executor.alive() == {A, retry}
    executor.kill(A)
    eventually(lambda: executor.alive() == {retry}, what="only the other try is left")


def test_a_killed_attempt_stops_being_alive_and_its_worker_ends(driver: Driver) -> None:
    executor = driver.executor()
    executor.launch(driver.request(A))
    executor.launch(driver.request(B))
    executor.kill(A)
    eventually(lambda: executor.alive() == {B}, what="the killed attempt is gone")
    eventually(lambda: driver.workers(A) == 0, what="its worker ended")
    assert driver.workers(B) == 1


def test_killing_an_attempt_without_a_worker_does_nothing(driver: Driver) -> None:
    executor = driver.executor()
    executor.launch(driver.request(A))
    executor.kill(AttemptRef(99, 1))
    assert executor.alive() == {A}


def test_a_worker_that_dies_on_its_own_stops_being_alive(driver: Driver) -> None:
    executor = driver.executor()
    executor.launch(driver.request(A))
    executor.launch(driver.request(B))
    driver.die(A)
    eventually(lambda: executor.alive() == {B}, what="the dead worker's attempt is gone")


def test_an_attempt_whose_worker_died_can_be_launched_again(driver: Driver) -> None:
    executor = driver.executor()
    executor.launch(driver.request(A))
    driver.die(A)
    eventually(lambda: not executor.alive(), what="the dead worker's attempt is gone")
    executor.launch(driver.request(A))
    assert executor.alive() == {A}
    eventually(lambda: driver.workers(A) == 1, what="its worker started")


def test_closing_an_executor_leaves_its_workers_running(driver: Driver) -> None:
    executor = driver.executor()
    executor.launch(driver.request(A))
    executor.close()
    eventually(lambda: driver.workers(A) == 1, what="its worker started")


def test_a_new_executor_adopts_the_running_workers_and_can_kill_them(driver: Driver) -> None:
    first = driver.executor()
    first.launch(driver.request(A))
    first.launch(driver.request(B))
    first.close()

    eventually(lambda: driver.workers(A) == driver.workers(B) == 1, what="both workers started")
    second = driver.executor()
    assert second.alive() == {A, B}
    second.launch(driver.request(A))  # the restarted scheduler relaunches: nothing starts
    assert driver.workers(A) == 1
    second.kill(A)
    eventually(lambda: second.alive() == {B}, what="the adopted attempt was killed")
    eventually(lambda: driver.workers(A) == 0, what="its worker ended")


def test_a_new_executor_does_not_report_workers_that_died_while_none_ran(
    driver: Driver,
) -> None:
    first = driver.executor()
    first.launch(driver.request(A))
    first.launch(driver.request(B))
    first.close()
    driver.die(A)

    second = driver.executor()
    eventually(lambda: second.alive() == {B}, what="only the live worker is adopted")


def test_a_relaunch_starts_the_attempt_again_or_ends_it(driver: Driver) -> None:
    """The scheduler's relaunch of a queued attempt with no live worker, by a scheduler that
    did not launch it (restarted, or an adopter): afterwards the attempt is alive again, or its
    ending is observed, never neither. A process is simply started again; a pod is never
    created twice under one name, so the Kubernetes executor observes the first one's ending
    instead (ADR 0040)."""
    executor = driver.executor()
    executor.launch(driver.request(A))
    driver.die(A)
    eventually(lambda: not executor.alive(), what="the dead worker's attempt is gone")
    successor = driver.executor()
    successor.launch(replace(driver.request(A), relaunch=True))
    eventually(
        lambda: A in successor.alive() or A in successor.observe().endings,
        what="the attempt alive again or ended",
    )
    assert driver.workers(A) <= 1
