"""Worker pods run the commit their run is pinned to, from the code tarball in the object
store, never from the scheduler's snapshots (issue 11, item 4).

A standalone with the Kubernetes executor against the fake API server syncs a real git
repository. A run pinned to commit A, a push of commit B, a run on B, then a clear of a task of
the first run: each pod's worker says where its code came from, and the results are A's and
B's code, as each run is pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_kubernetes import NAMESPACE, kube_env
from test_repos_pinned import DAG, TEAM, dag_commit, helpers

from brisa.testing.kube import FakeCluster
from support.gitserver import Upstream
from support.standalone import Standalone


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream:
    repo = Upstream(tmp_path / "remote", name=TEAM)
    repo.commit({"dags/pinned.py": DAG.format(), "dags/helpers.py": helpers("v1")}, "v1")
    return repo


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        yield fake


@pytest.fixture
def server(tmp_path: Path, upstream: Upstream, cluster: FakeCluster) -> Iterator[Standalone]:
    home = tmp_path / "home"
    home.mkdir()
    (home / "brisa.toml").write_text(
        f'[repos.{TEAM}]\nurl = "{upstream.url}"\nbranch = "main"\nsubdir = "dags"\n'
        'period = "1h"\ntimeout = "20s"\n'
    )
    env = kube_env(
        cluster,
        home,
        BRISA__KUBERNETES__DELETE_POLICY="never",
        BRISA__KUBERNETES__CODE_CACHE=str(tmp_path / "pod-code"),
    )
    server = Standalone(home, env=env, copy_examples=False).start()
    try:
        yield server
    finally:
        server.stop()


def task_path(server: Standalone, run_id: str, task_id: str) -> str:
    return f"{server.dag_path('pinned', TEAM)}/runs/{run_id}/tasks/{task_id}"


def code_line(server: Standalone, run_id: str, task_id: str, try_number: int = 1) -> str:
    """The worker's line saying where its code came from, once the log is whole."""
    path = f"{task_path(server, run_id, task_id)}/logs?try_number={try_number}"
    page: Any = server.wait_until(
        lambda: (found := server.get(path))["finished"] and found, 30, "the log shipped whole"
    )
    lines = [line for line in str(page["content"]).splitlines() if "code: repo" in line]
    assert len(lines) == 1, page["content"]
    return lines[0]


def test_worker_pods_run_the_pinned_commit_from_its_tarball(
    server: Standalone, upstream: Upstream, cluster: FakeCluster, tmp_path: Path
) -> None:
    first_sha = upstream.head()
    server.wait_until(lambda: dag_commit(server) == first_sha, 20, "the first commit's DAG")
    server.post(f"{server.dag_path('pinned', TEAM)}/runs", {"run_id": "on_a"})
    assert server.wait_for_run("pinned", "on_a", team=TEAM)["state"] == "success"
    assert server.get(task_path(server, "on_a", "second"))["return_value"] == ["v1", "v1"]
    # The first pod unpacked the commit from its tarball into the pod's own cache (the fake
    # kubelet's pods share this machine, so the second found it there); none read a snapshot.
    lines = [code_line(server, "on_a", task) for task in ("first", "second")]
    assert all(f"commit {first_sha[:7]} from " in line for line in lines), lines
    assert {line.split(" from ")[1].split()[0] for line in lines} <= {"tarball", "cache"}
    assert any(" from tarball " in line for line in lines), lines
    assert all(str(tmp_path / "pod-code") in line for line in lines), lines

    second_sha = upstream.commit({"dags/helpers.py": helpers("v2")}, "v2")
    server.post(f"/api/v1/repos/{TEAM}/sync")
    server.wait_until(lambda: dag_commit(server) == second_sha, 20, "the DAG to move to B")
    server.post(f"{server.dag_path('pinned', TEAM)}/runs", {"run_id": "on_b"})
    assert server.wait_for_run("pinned", "on_b", team=TEAM)["state"] == "success"
    assert server.get(task_path(server, "on_b", "second"))["return_value"] == ["v2", "v2"]
    assert f"commit {second_sha[:7]} from " in code_line(server, "on_b", "first")

    # A clear of the first run's task, after B: its new pod still runs A.
    runs = f"{server.dag_path('pinned', TEAM)}/runs"
    server.post(f"{runs}/on_a/clear", {"task_ids": ["second"]})
    server.wait_until(
        lambda: (
            server.get(task_path(server, "on_a", "second"))["try_number"] == 2
            and server.get(f"{runs}/on_a")["state"] == "success"
        ),
        60,
        "the cleared task to run again",
    )
    assert server.get(task_path(server, "on_a", "second"))["return_value"] == ["v1", "v1"]
    assert f"commit {first_sha[:7]} from " in code_line(server, "on_a", "second", 2)
    # Every attempt had a pod of its own: 2 tasks x 2 runs, and the cleared try.
    assert len(cluster.pods(NAMESPACE)) == 5
