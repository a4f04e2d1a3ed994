"""A worker pod OOM-killed while its task prints: the last lines were in the worker's spool
only (the ship interval is long), yet the stored log holds every line the task printed up to
its death, each once, in order, because the executor completes it from the frames the
worker echoed to the pod's log (`logs.echo`); the pod is deleted afterwards
(`delete_policy = "always"`)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_kubernetes import NAMESPACE, kube_env

from brisa.testing.kube import FakeCluster
from support.standalone import Standalone

DAG = """
    from brisa import DAG, shell

    talk = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.005; done"
    # Killed 3 s after its container started: the worker's own start-up takes part of that
    # on a busy machine, and the task must have printed more than a chunk by then.
    with DAG("talker") as dag:
        shell("talk", talk, pod={"annotations": {"fake.brisa.dev/fault": "oom:3"}})
"""
LINE = re.compile(r" line (\d+)$")


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        yield fake


def test_a_killed_worker_pods_log_is_completed_from_the_pods_log(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "talker.py").write_text(textwrap.dedent(DAG))
    env = kube_env(
        cluster,
        tmp_path / "home",
        BRISA__LOGS__CHUNK_INTERVAL="60s",  # no tick before the kill ...
        BRISA__LOGS__CHUNK_BYTES="2048",  # ... but a few chunks by size: the store has some
        BRISA__KUBERNETES__DELETE_POLICY="always",
    )
    with Standalone(tmp_path / "home", dags=dags, env=env, copy_examples=False) as server:
        server.start()
        server.wait_for_dag("talker")
        run = server.trigger("talker")
        done = server.wait_for_run("talker", run["run_id"], timeout=30)
        server.wait_until(lambda: not cluster.pods(NAMESPACE), 15, "the pod to be deleted")
        path = f"{server.dag_path('talker')}/runs/{run['run_id']}/tasks/talk/logs"
        log = str(server.get(path)["content"])
    task = done["tasks"][0]
    assert task["state"] == "failed" and task["error"].startswith("OOMKilled"), task
    said = [int(m.group(1)) for line in log.splitlines() if (m := LINE.search(line))]
    assert len(said) > 20 and said == list(range(len(said))), log  # none lost, none twice
    last = log.splitlines()[-1]
    assert "the worker's pod ended before its log was complete" in last
    recovered = re.search(r"shipped the last (\d+) bytes from the pod's log", last)
    assert recovered is not None and int(recovered.group(1)) > 0, last
    shipped = len(log[: log.rindex(last)].encode()) - int(recovered.group(1))
    assert shipped >= 2048  # the worker had shipped a chunk: the rest came from the pod's log
