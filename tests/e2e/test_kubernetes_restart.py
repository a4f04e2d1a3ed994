"""The scheduler SIGKILLed while 20 pods run, then started again: the new executor adopts the
pods from the API server (nothing it kept in memory is needed), every attempt finishes exactly
once, its log is whole (a container task's output resumed after what was shipped, never
twice), and no pod is left behind once the outcomes are stored (`delete_policy =
"on_success"`)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kubernetes import NAMESPACE, kube_env

from brisa.testing.kube import FakeCluster
from support.standalone import Standalone

DAG = """
    from brisa import DAG, container, shell

    script = "echo start; sleep 3; echo done"
    with DAG("twenty", max_active_tasks=32) as dag:
        for i in range(18):
            container(f"c{i}", "alpine:3.20", command=["sh", "-c", script])
        for i in range(2):
            shell(f"s{i}", script)
"""


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        yield fake


def running_pods(cluster: FakeCluster) -> int:
    return sum(p["status"].get("phase") == "Running" for p in cluster.pods(NAMESPACE))


def test_a_killed_scheduler_adopts_its_pods_and_each_attempt_ends_once(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "twenty.py").write_text(textwrap.dedent(DAG))
    env = kube_env(cluster, tmp_path / "home")
    with Standalone(tmp_path / "home", dags=dags, env=env, copy_examples=False) as server:
        server.start()
        server.wait_for_dag("twenty")
        run = server.trigger("twenty")
        server.wait_until(lambda: running_pods(cluster) == 20, 30, "20 pods to run")
        server.kill()  # SIGKILL: the pods, and the workers in them, run on
        server.start()
        done = server.wait_for_run("twenty", run["run_id"], timeout=60)
        server.wait_until(lambda: not cluster.pods(NAMESPACE), 30, "every pod to be deleted")
        logs = {
            t["task_id"]: server.get(
                f"{server.dag_path('twenty')}/runs/{run['run_id']}/tasks/{t['task_id']}/logs"
            )["content"]
            for t in done["tasks"]
        }
    assert done["state"] == "success"
    assert all(t["try_number"] == 1 for t in done["tasks"])
    for task_id, log in logs.items():
        said = [line.split()[-1] for line in log.splitlines() if line and "echo" not in line]
        assert (said.count("start"), said.count("done")) == (1, 1), (task_id, log)
    created = {}
    for event in cluster.state.list("events", NAMESPACE)[0]:
        if event["reason"] == "Scheduled":
            involved = event["involvedObject"]
            created.setdefault(involved["name"], set()).add(involved["uid"])
    assert len(created) == 20 and all(len(uids) == 1 for uids in created.values())


def test_an_unreachable_api_server_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        env = kube_env(fake, tmp_path / "home")  # then the cluster goes away
    server = Standalone(tmp_path / "home", dags=tmp_path / "dags", env=env, copy_examples=False)
    with server, pytest.raises(RuntimeError) as failed:
        server.start()
    assert "exited with 2" in str(failed.value)
    assert "error: the Kubernetes API server cannot be reached" in str(failed.value)
    assert "Traceback" not in str(failed.value)
