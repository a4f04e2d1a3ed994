"""The fake API server is honest: kubectl (on the machine) and the official Python client
talk to it as to a real cluster, and its wire behaviour (selectors, watch semantics, 410 on a
too-old list, duplicate events, Status bodies) is the real API's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.testing.kube import FakeCluster
from brisa.testing.server import eventually

NS = "honest"
TOKEN = "kubectl-token"

POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: hello
  labels: {app: demo, tier: web}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.36
    command: ["sh", "-c", "echo hello from the fake; sleep 0.3; echo done"]
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token=TOKEN, namespaces=(NS,), tls=True, bookmark_interval=0.2) as fake:
        yield fake


# --- kubectl ---------------------------------------------------------------------------------


def kubectl(cluster: FakeCluster, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    argv = [
        "kubectl",
        f"--server={cluster.url}",
        f"--token={TOKEN}",
        f"--certificate-authority={cluster.ca_file}",
        "-n",
        NS,
        *args,
    ]
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "KUBECONFIG": str(home / "none")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def test_kubectl_creates_lists_logs_and_deletes_a_pod(cluster: FakeCluster, tmp_path: Path) -> None:
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD_YAML)
    created = kubectl(cluster, tmp_path, "create", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "pod/hello created"

    listed = kubectl(cluster, tmp_path, "get", "pods", "-l", "app=demo,tier in (web)", "-o", "name")
    assert listed.stdout.split() == ["pod/hello"], listed.stderr
    assert kubectl(cluster, tmp_path, "get", "pods", "-l", "app=other", "-o", "name").stdout == ""

    table = kubectl(cluster, tmp_path, "get", "pods", "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert table[1].split()[0] == "hello" and table[1].split()[-1] == "fake-node-1"
    logs = kubectl(cluster, tmp_path, "logs", "-f", "hello")
    assert logs.stdout == "hello from the fake\ndone\n", logs.stderr
    phase = kubectl(cluster, tmp_path, "get", "pod", "hello", "-o", "jsonpath={.status.phase}")
    assert phase.stdout == "Succeeded"
    described = kubectl(cluster, tmp_path, "describe", "pod", "hello")
    assert "Started container main" in described.stdout and "Exit Code:    0" in described.stdout

    deleted = kubectl(cluster, tmp_path, "delete", "pod", "hello")
    assert deleted.stdout.strip() == 'pod "hello" deleted', deleted.stderr
    gone = kubectl(cluster, tmp_path, "get", "pod", "hello")
    assert gone.returncode != 0 and 'pods "hello" not found' in gone.stderr


def test_kubectl_shows_a_refusal_and_a_wrong_token(cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.api.forbid("list", "pods")
    try:
        refused = kubectl(cluster, tmp_path, "get", "pods")
    finally:
        cluster.api.allow("list", "pods")
    assert 'cannot list resource "pods"' in refused.stderr
    argv = [
        "kubectl",
        f"--server={cluster.url}",
        "--token=wrong",
        f"--certificate-authority={cluster.ca_file}",
        "get",
        "pods",
        "-n",
        NS,
    ]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "x")}
    wrong = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert wrong.returncode != 0 and "Unauthorized" in wrong.stderr


# --- the official client -----------------------------------------------------------------------


def test_the_official_client_creates_watches_reads_and_deletes(cluster: FakeCluster) -> None:
    from kubernetes import client, watch

    config = client.Configuration()
    config.host = cluster.url
    config.api_key = {"authorization": f"Bearer {TOKEN}"}
    config.ssl_ca_cert = str(cluster.ca_file)
    core = client.CoreV1Api(client.ApiClient(config))
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name="official", labels={"via": "client"}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[
                client.V1Container(
                    name="c", image="busybox:1.36", command=["sh", "-c", "echo official; sleep 0.3"]
                )
            ],
        ),
    )
    listed = core.list_namespaced_pod(NS, label_selector="via=client")
    core.create_namespaced_pod(NS, body)
    phases = []
    watcher = watch.Watch()
    for event in watcher.stream(
        core.list_namespaced_pod,
        NS,
        label_selector="via=client",
        timeout_seconds=20,
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
    ):
        if event["type"] != "BOOKMARK":
            phases.append(event["object"].status.phase)
            if event["object"].status.phase == "Succeeded":
                watcher.stop()
    assert phases[0] == "Pending" and phases[-1] == "Succeeded"
    raw_log = core.read_namespaced_pod_log("official", NS, _preload_content=False)
    assert raw_log.data == b"official\n"
    events = core.list_namespaced_event(NS, field_selector="involvedObject.name=official")
    assert [event.reason for event in events.items][:2] == ["Scheduled", "Pulled"]
    core.delete_namespaced_pod("official", NS, grace_period_seconds=0)
    with pytest.raises(client.ApiException) as caught:
        core.read_namespaced_pod("official", NS)
    assert caught.value.status == 404
    assert core.read_namespace(NS).status.phase == "Active"
    assert client.VersionApi(client.ApiClient(config)).get_code().major == "1"


# --- wire behaviour ----------------------------------------------------------------------------


def call(
    cluster: FakeCluster,
    path: str,
    method: str = "GET",
    body: Any = None,
    token: str | None = TOKEN,
) -> tuple[int, Any]:
    import ssl

    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(cluster.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    if "watch=" in path:
        return status, [json.loads(line) for line in raw.splitlines() if line.strip()]
    return status, json.loads(raw)


def make(cluster: FakeCluster, name: str, labels: dict[str, str]) -> None:
    manifest = {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "x", "command": ["true"]}],
        },
    }
    assert call(cluster, f"/api/v1/namespaces/{NS}/pods", "POST", manifest)[0] == 201


def names(cluster: FakeCluster, query: dict[str, str]) -> list[str]:
    path = f"/api/v1/namespaces/{NS}/pods?" + urllib.parse.urlencode(query)
    return [item["metadata"]["name"] for item in call(cluster, path)[1]["items"]]


def test_selectors_filter_as_on_a_real_server(cluster: FakeCluster) -> None:
    make(cluster, "sel-a", {"team": "a", "tier": "db"})
    make(cluster, "sel-b", {"team": "b"})
    assert names(cluster, {"labelSelector": "team=a"}) == ["sel-a"]
    assert names(cluster, {"labelSelector": "team in (a,b),team!=b"}) == ["sel-a"]
    assert names(cluster, {"labelSelector": "team,!tier"}) == ["sel-b"]
    assert names(cluster, {"labelSelector": "team notin (a)"}) == ["sel-b"]
    assert names(cluster, {"fieldSelector": "metadata.name=sel-b"}) == ["sel-b"]
    status, body = call(cluster, f"/api/v1/namespaces/{NS}/pods?fieldSelector=spec.image%3Dx")
    assert status == 400 and body["reason"] == "BadRequest"


def test_status_bodies_name_what_is_wrong(cluster: FakeCluster) -> None:
    status, body = call(cluster, f"/api/v1/namespaces/{NS}/pods", token=None)
    assert (status, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
    status, body = call(cluster, f"/api/v1/namespaces/{NS}/pods/nope", "DELETE")
    assert (status, body["message"]) == (404, 'pods "nope" not found')
    status, body = call(
        cluster,
        f"/api/v1/namespaces/{NS}/pods",
        "POST",
        {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c"}]}},
    )
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "spec.containers[0].image"


def test_a_too_old_exact_list_is_gone(cluster: FakeCluster) -> None:
    make(cluster, "old-list", {"case": "old"})
    cluster.state.compact()
    query = "resourceVersion=1&resourceVersionMatch=Exact"
    status, body = call(cluster, f"/api/v1/namespaces/{NS}/pods?{query}")
    assert (status, body["reason"]) == (410, "Expired")
    assert call(cluster, f"/api/v1/namespaces/{NS}/pods?resourceVersion=0")[0] == 200


def test_a_watch_from_now_starts_with_what_exists_and_events_can_be_doubled(
    cluster: FakeCluster,
) -> None:
    make(cluster, "dup", {"case": "dup"})
    eventually(lambda: _phase(cluster, "dup") == "Succeeded", what="the pod to finish")
    status, events = call(
        cluster, f"/api/v1/namespaces/{NS}/pods?watch=1&labelSelector=case%3Ddup&timeoutSeconds=1"
    )
    assert status == 200 and [e["type"] for e in events] == ["ADDED"]
    version = events[0]["object"]["metadata"]["resourceVersion"]
    cluster.api.duplicate_events = True
    try:
        call(cluster, f"/api/v1/namespaces/{NS}/pods/dup", "DELETE")
        _, events = call(
            cluster,
            f"/api/v1/namespaces/{NS}/pods?watch=true&labelSelector="
            f"case%3Ddup&timeoutSeconds=1&resourceVersion={version}",
        )
    finally:
        cluster.api.duplicate_events = False
    assert [e["type"] for e in events] == ["DELETED", "DELETED"]


def _phase(cluster: FakeCluster, name: str) -> str | None:
    found = cluster.pod(NS, name)
    return None if found is None else found["status"].get("phase")
