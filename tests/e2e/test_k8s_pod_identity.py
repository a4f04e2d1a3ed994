"""A worker pod gets its execution token by proving which pod it is (ADR 0029, K7), and nothing
a task can read lets it act as another attempt.

Against the fake API server, with the Kubernetes executor: two shell tasks run in pods A and
B. The attacker holds what a task in pod A can read, its pod's projected service account
token (the file the fake kubelet mounted into pod A), and what anyone can make: a forged
token, a token for another audience, an expired one. Every exchange it tries is refused with
a clear reason (401, 403 or 409, a JSON `detail`, no traceback), and both attempts end as
their own code says.
"""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from test_kubernetes import NAMESPACE, kube_env

from brisa.testing.kube import FakeCluster
from support.standalone import Standalone

PAIR = """
    from brisa import DAG, shell

    with DAG("pair") as dag:
        shell("a", "sleep 4; echo a done")
        shell("b", "sleep 4; echo b done")
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token="kube-token", namespaces=(NAMESPACE,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def brisa(cluster: FakeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    root = tmp_path_factory.mktemp("identity")
    dags = root / "dags"
    dags.mkdir()
    (dags / "pair.py").write_text(textwrap.dedent(PAIR))
    env = kube_env(cluster, root / "home", BRISA__KUBERNETES__DELETE_POLICY="never")
    with Standalone(root / "home", dags=dags, env=env, copy_examples=False) as server:
        server.start()
        yield server


def exchange(server: Standalone, ti: int, try_number: int, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{server.url}/execution/v1/attempts/{ti}/{try_number}/exchange",
        data=b"{}",
        method="POST",
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def pod_of(cluster: FakeCluster, run_id: str, task_id: str) -> dict[str, Any]:
    for pod in cluster.pods(NAMESPACE):
        ids = pod["metadata"]["annotations"]
        if (ids["brisa.dev/run-id"], ids["brisa.dev/task-id"]) == (run_id, task_id):
            return pod
    raise AssertionError(f"no pod for {task_id}")


def readable_token(cluster: FakeCluster, pod: dict[str, Any]) -> str:
    """What a task in `pod` reads at /var/run/secrets/brisa.dev/token (where the fake kubelet
    put that volume)."""
    meta = pod["metadata"]
    folder = cluster.kubelet.root / f"{meta['namespace']}-{meta['name']}-{meta['uid'][:8]}"
    return (folder / "mounts/var/run/secrets/brisa.dev/token").read_text().strip()


def ref(pod: dict[str, Any]) -> tuple[int, int]:
    labels = pod["metadata"]["labels"]
    return int(labels["brisa.dev/ti"]), int(labels["brisa.dev/try"])


def test_no_token_a_task_can_read_or_make_is_worth_another_attempt(
    brisa: Standalone, cluster: FakeCluster
) -> None:
    brisa.wait_for_dag("pair")
    run_id = brisa.trigger("pair")["run_id"]

    def both_running() -> bool:
        tasks = brisa.run("pair", run_id)["tasks"]
        return all(t["state"] == "running" for t in tasks)

    brisa.wait_until(both_running, 60, "both tasks to run in their pods")
    pod_a, pod_b = pod_of(cluster, run_id, "a"), pod_of(cluster, run_id, "b")
    token_a = readable_token(cluster, pod_a)

    # Pod A's own token, replayed for pod B's attempt: refused, naming both pods.
    status, body = exchange(brisa, *ref(pod_b), token_a)
    assert status == 403, body
    assert f"belongs to pod {pod_a['metadata']['name']}, not to pod" in body["detail"]
    assert pod_b["metadata"]["name"] in body["detail"]
    # ... for its own attempt's next try (a pod of that name does not exist): refused too.
    ti_a, try_a = ref(pod_a)
    assert exchange(brisa, ti_a, try_a + 1, token_a)[0] == 403
    # ... and again for its own attempt, which has started: exchanged once, never after.
    status, body = exchange(brisa, ti_a, try_a, token_a)
    assert status == 409 and "not waiting for its worker" in body["detail"], body

    # Tokens anyone can make: forged, for the API server's audience, expired, none at all.
    head, claims, _ = token_a.split(".")
    tokens = cluster.kubelet.tokens
    made = {
        "forged": (f"{head}.{claims}.c2lnbmVk", "invalid bearer token"),
        "not a token": ("not-a-jwt", "not a JWT"),
        "another audience": (tokens.mint(pod_b), "is invalid for the target audiences"),
        "expired": (
            tokens.mint(pod_b, "brisa-execution", 600, issued_at=tokens.clock() - 3600),
            "service account token has expired",
        ),
    }
    for what, (token, reason) in made.items():
        status, body = exchange(brisa, *ref(pod_b), token)
        assert status == 401, (what, body)
        assert body["detail"].startswith("the pod's service account token was refused"), what
        assert reason in body["detail"] and "Traceback" not in body["detail"], what
    status, body = exchange(brisa, *ref(pod_b), None)
    assert status == 401 and "missing pod token" in body["detail"]

    # Neither attempt was disturbed: each ends as its own code says.
    run = brisa.wait_for_run("pair", run_id, timeout=60)
    assert {t["task_id"]: t["state"] for t in run["tasks"]} == {"a": "success", "b": "success"}
