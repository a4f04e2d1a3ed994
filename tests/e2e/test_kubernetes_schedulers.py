"""Several schedulers on PostgreSQL under the Kubernetes executor (PLATFORM.md K8, ADR 0028),
three `brisa scheduler` processes against the fake API server:

- the scheduler holding the namespace's lease is SIGKILLed, or frozen past its lease, while
  container tasks write their output: another scheduler takes the lease over, the running
  pods keep running (no pod is created twice, none is deleted while it runs), every
  attempt's outcome is recorded once, and every container's log is whole: each line once,
  in order, none missing;
- every scheduler is SIGKILLed while pods run, then all are started again: they adopt the pods
  from the API server (0 creates, 0 deletes of a running pod), every attempt reaches its
  outcome on its first try, and no pod is left once the outcomes are stored.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from brisa.testing.kube import FakeCluster
from brisa.testing.kube.fleet import KubeFleet, PodRequests, kube_fleet

NAMESPACE = "brisa"
LINES = 20
TAKEOVER = f"""
from brisa import DAG, container

script = "for i in $(seq 1 {LINES}); do echo line-$i; sleep 0.4; done"
with DAG("takeover", schedule=None, max_active_tasks=16) as dag:
    for i in range(8):
        container(f"c{{i}}", "alpine:3.20", command=["sh", "-c", script])
"""
PODS = 24
RESTART = f"""
from brisa import DAG, container

with DAG("restart", schedule=None, max_active_tasks={PODS}) as dag:
    for i in range({PODS}):
        container(f"c{{i}}", "alpine:3.20", command=["sh", "-c", "sleep 10; echo done"])
"""


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        yield fake


def shipped(fleet: KubeFleet, run_id: str, task_id: str) -> str:
    """What the log API has of a task's log so far ("" before its first chunk)."""
    try:
        return fleet.log("takeover", run_id, task_id)
    except OSError:  # HTTPError: no chunk yet
        return ""


def said(text: str) -> list[str]:
    return [line.split()[-1] for line in text.splitlines() if "line-" in line]


def once_each(fleet: KubeFleet) -> Counter[tuple[int, str]]:
    """How many times each task instance was moved into each final state."""
    return Counter((ti, to) for ti, _, _, to, _ in fleet.moves() if to in ("success", "failed"))


@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_the_namespace_lease_holder_lost_mid_run_another_takes_over(
    fault: str, tmp_path: Path, postgres_url: str, cluster: FakeCluster
) -> None:
    """Killed (SIGKILL: its lease is taken at once, its process being gone) or frozen
    (SIGSTOP past its lease's ttl, then resumed: it must write nothing more to the logs)."""
    requests = PodRequests(cluster)
    with kube_fleet(
        tmp_path / "fleet", postgres_url, cluster, namespace=NAMESPACE, dags={"takeover": TAKEOVER}
    ) as fleet:
        fleet.wait_dag("takeover")
        fleet.wait_until(lambda: fleet.holder_slot() is not None, 30, "a namespace holder")
        run_id = fleet.trigger("takeover")
        fleet.wait_until(lambda: fleet.running_pods() == 8, 60, "8 pods to run")
        tasks = [f"c{i}" for i in range(8)]
        fleet.wait_until(
            lambda: all("line-2" in shipped(fleet, run_id, t) for t in tasks),
            30,
            "the holder to ship the first lines of every container",
        )  # so the next holder follows on from what is stored, not from the start
        holder = fleet.holder_slot()
        assert holder is not None
        lost_at = time.monotonic()
        if fault == "killed":
            fleet.kill(holder)  # its pods, and the followers of their logs, are orphaned
        else:
            fleet.fleet.scheduler(holder).signal(signal.SIGSTOP)
        fleet.wait_until(
            lambda: fleet.holder_slot() not in (None, holder), 30, "another namespace holder"
        )
        if fault == "frozen":
            fleet.fleet.scheduler(holder).signal(signal.SIGCONT)  # resumes as a follower
        live = []  # what a user following the logs reads meanwhile
        while fleet.run("takeover", run_id)["state"] not in ("success", "failed"):
            live += [said(shipped(fleet, run_id, t)) for t in tasks]
            assert time.monotonic() - lost_at < 90, fleet.logs()
        run = fleet.wait_run("takeover", run_id, 90)
        fleet.wait_until(lambda: not cluster.pods(NAMESPACE), 30, "every pod to be deleted")
        logs = {t["task_id"]: fleet.log("takeover", run_id, t["task_id"]) for t in run["tasks"]}
        finals = once_each(fleet)
    assert run["state"] == "success", run
    assert all(t["try_number"] == 1 for t in run["tasks"]), run["tasks"]
    created = Counter(r.pod for r in requests.since(0, "create"))
    assert len(created) == 8 and set(created.values()) == {1}, created
    assert not [r for r in requests.since(lost_at, "delete") if r.phase == "Running"]
    assert sorted(finals.values()) == [1] * 8, finals
    expected = [f"line-{i}" for i in range(1, LINES + 1)]
    for task_id, text in logs.items():
        assert said(text) == expected, (task_id, text)
    # Read live, a log only ever grows: never a line twice or out of order (two followers
    # shipping one log would cut its chunks differently and overwrite each other's).
    assert all(lines == expected[: len(lines)] for lines in live), live


def test_every_scheduler_restarted_adopts_the_running_pods(
    tmp_path: Path, postgres_url: str, cluster: FakeCluster
) -> None:
    requests = PodRequests(cluster)
    with kube_fleet(
        tmp_path / "fleet", postgres_url, cluster, namespace=NAMESPACE, dags={"restart": RESTART}
    ) as fleet:
        fleet.wait_dag("restart")
        run_id = fleet.trigger("restart")
        fleet.wait_until(lambda: fleet.running_pods() == PODS, 60, f"{PODS} pods to run")
        restarted_at = time.monotonic()
        for slot in fleet.slots():
            fleet.kill(slot)
        for slot in fleet.slots():
            fleet.restart(slot)
        run = fleet.wait_run("restart", run_id, 90)
        fleet.wait_until(lambda: not cluster.pods(NAMESPACE), 30, "every pod to be deleted")
        finals = once_each(fleet)
    assert run["state"] == "success", run
    assert all(t["try_number"] == 1 for t in run["tasks"]), run["tasks"]
    assert requests.since(restarted_at, "create") == []
    assert not [r for r in requests.since(restarted_at, "delete") if r.phase == "Running"]
    assert sorted(finals.values()) == [1] * PODS, finals
