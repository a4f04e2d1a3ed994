"""Pods deleted by someone else at random points of their lives (PLATFORM.md K6): while
pending, while running, after their container exited and before or after the executor stored
the outcome; gracefully or at once. Whatever the moment, a task whose container succeeds ends
in success and one whose container fails ends in failure, never the reverse: a deletion
before the outcome is known is an infrastructure failure, tried again without using the
task's retries; a deletion after it changes nothing. Seeded, so a failure can be replayed."""

from __future__ import annotations

import random
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kubernetes import NAMESPACE, kube_env

from brisa.testing.kube import FakeCluster
from brisa.testing.kube.faults import SlowStart
from brisa.testing.kube.objects import ApiStatus
from support.standalone import Standalone

TASKS = 40
SEED = 20261207

DAG = f"""
    from brisa import DAG, container

    with DAG("deletions", max_active_tasks={TASKS}) as dag:
        for i in range({TASKS}):
            code = 0 if i % 2 == 0 else 3
            pause = (i % 5) / 5
            script = f"sleep {{pause}}; exit {{code}}"
            container(f"c{{i:02d}}", "alpine:3.20", command=["sh", "-c", script])
"""


def expected_state(task_id: str) -> str:
    return "success" if int(task_id[1:]) % 2 == 0 else "failed"


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        yield fake


class Deleter:
    """Deletes pods of the DAG at random moments from a thread of its own, each task's pods
    at most `per_task` times in all (so the infrastructure retries are never used up), until
    stopped."""

    def __init__(self, cluster: FakeCluster, rng: random.Random, per_task: int) -> None:
        self.cluster, self.rng, self.per_task = cluster, rng, per_task
        self.done: dict[str, int] = {}
        self.phases: dict[str, int] = {}  # the phase each deleted pod was in: coverage
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="deleter", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.005, 0.06)):
            pods = [
                p
                for p in self.cluster.pods(NAMESPACE)
                if self.done.get(self.task_of(p), 0) < self.per_task
                and not p["metadata"].get("deletionTimestamp")
            ]
            if not pods:
                continue
            pod = self.rng.choice(pods)
            grace = self.rng.choice([0, None])
            phase = pod.get("status", {}).get("phase", "none")
            try:
                self.cluster.state.delete_pod(NAMESPACE, pod["metadata"]["name"], grace)
            except ApiStatus:  # gone meanwhile (the executor deleted it): not ours to count
                continue
            task = self.task_of(pod)
            self.done[task] = self.done.get(task, 0) + 1
            self.phases[phase] = self.phases.get(phase, 0) + 1

    @staticmethod
    def task_of(pod: dict) -> str:  # type: ignore[type-arg]
        return str(pod["metadata"]["annotations"]["brisa.dev/task-id"])


def test_pods_deleted_at_random_points_never_turn_a_success_into_a_failure_or_back(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "deletions.py").write_text(textwrap.dedent(DAG))
    # Pods are kept after their outcome (`never`), so that deletions also land after it; a
    # task's pods are deleted at most twice and it has three infrastructure retries. The fake
    # kubelet may take seconds to start 40 containers on a busy machine, and its timestamps
    # are whole seconds: the module's 3 s pending timeout (for its unschedulable pod) would
    # fail pods that only wait their turn here.
    env = kube_env(
        cluster,
        tmp_path / "home",
        BRISA__KUBERNETES__DELETE_POLICY="never",
        BRISA__KUBERNETES__INFRA_RETRIES="3",
        BRISA__KUBERNETES__PENDING_TIMEOUT="60s",
    )
    # Every fourth task's pods start a second late, so that some deletions find them pending.
    cluster.inject(SlowStart(1.0), lambda pod: int(Deleter.task_of(pod)[1:]) % 4 == 1)
    deleter = Deleter(cluster, random.Random(SEED), per_task=2)
    with Standalone(tmp_path / "home", dags=dags, env=env, copy_examples=False) as server:
        server.start()
        server.wait_for_dag("deletions")
        run = server.trigger("deletions")
        deleter.thread.start()
        try:
            done = server.wait_for_run("deletions", run["run_id"], timeout=120)
        finally:
            deleter.stop.set()
            deleter.thread.join(10)
    states = {t["task_id"]: t["state"] for t in done["tasks"]}
    assert len(states) == TASKS
    wrong = {
        t["task_id"]: (t["state"], t["try_number"], t["error"])
        for t in done["tasks"]
        if t["state"] != expected_state(t["task_id"])
    }
    assert wrong == {}, f"deleted: {deleter.done}; phases: {deleter.phases}"
    # The deletions hit pods in every part of their lives, and many of them.
    assert sum(deleter.done.values()) >= TASKS // 2, deleter.done
    assert {"Pending", "Running"} <= set(deleter.phases), deleter.phases
    assert {"Succeeded", "Failed"} & set(deleter.phases), deleter.phases
    # A failing container's error is its exit code, not the deletion.
    for task in done["tasks"]:
        if expected_state(task["task_id"]) == "failed":
            assert task["error"] == "exit code 3", task
