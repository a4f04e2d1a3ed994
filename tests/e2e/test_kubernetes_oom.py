"""K5's subprocess-OOM fixture: a shell task in a worker pod whose child process allocates past
the pod's memory limit. The fake kubelet runs the pod in a memory cgroup with that limit
(`FakeCluster(memory_cgroups=True)`), so the kernel's OOM killer really ends the child; the
worker survives, reads its cgroup's `oom_kill` counter and the attempt's error names the kill
with the limit. Needs root and a writable memory controller; skipped otherwise."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator

import pytest
from test_kubernetes import NAMESPACE, kube_env

from brisa.testing.kube import FakeCluster, memcg
from support.standalone import Standalone

HOG = f"""
    from brisa import DAG, shell

    with DAG("hog") as dag:
        shell("hog", "{sys.executable} -c 'x = bytearray(1 << 30)'", retries=0,
              pod={{"limits": {{"memory": "256Mi"}}}})
        shell("lean", "echo fine", pod={{"limits": {{"memory": "256Mi"}}}})
"""

pytestmark = pytest.mark.skipif(not memcg.available(), reason="needs root and a memory cgroup")


@pytest.fixture(scope="module")
def brisa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,), memory_cgroups=True) as cluster:
        root = tmp_path_factory.mktemp("oom")
        dags = root / "dags"
        dags.mkdir()
        (dags / "hog.py").write_text(textwrap.dedent(HOG))
        env = kube_env(cluster, root / "home")
        with Standalone(root / "home", dags=dags, env=env, copy_examples=False) as server:
            server.start()
            yield server


def test_a_child_killed_for_memory_is_named_oomkilled_with_the_limit(brisa: Standalone) -> None:
    brisa.wait_for_dag("hog")
    run = brisa.wait_for_run("hog", brisa.trigger("hog")["run_id"], timeout=120)
    tasks = {t["task_id"]: t for t in run["tasks"]}
    assert tasks["lean"]["state"] == "success"  # a limit alone kills nothing
    assert tasks["hog"]["state"] == "failed"
    assert tasks["hog"]["error"].startswith(
        "OOMKilled (container base, exit 137, limit 256Mi; 1 process killed by the OOM killer): "
    ), tasks["hog"]["error"]
