"""The Kubernetes client adapter's contract (`KubeApi`), against the fake API server over
real HTTPS: every method, watch resume by resourceVersion, bookmarks, 410 Gone, a dropped
stream, 409, 404, 401/403 and an unreachable server, each as the typed error the executor
reacts to, with a message a user can read.

Every test runs on both implementations of the port (`IMPLEMENTATIONS`): lightkube's, which
Brisa uses, and the official client's.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brisa.executor.kubernetes import official_client
from brisa.executor.kubernetes.api import (
    AlreadyExists,
    ApiAccess,
    Forbidden,
    Gone,
    KubeApi,
    KubeError,
    NotFound,
    Unauthorized,
    Unreachable,
    WatchEvent,
    connect,
)
from brisa.testing.kube import FakeCluster
from brisa.testing.server import eventually

NS = "team-a"
TOKEN = "s3cr3t-token"
IMPLEMENTATIONS: dict[str, Callable[[ApiAccess], KubeApi]] = {
    "lightkube": connect,
    "official": official_client.connect,
}


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(token=TOKEN, namespaces=(NS,), tls=True, bookmark_interval=0.2) as fake:
        yield fake


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


Connect = Callable[[ApiAccess], KubeApi]


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def connector(request: pytest.FixtureRequest) -> Connect:
    return IMPLEMENTATIONS[request.param]


@pytest.fixture
def api(connector: Connect, cluster: FakeCluster, token_file: Path) -> KubeApi:
    access = ApiAccess(
        server=cluster.url, token_file=str(token_file), ca_file=str(cluster.ca_file), timeout=5
    )
    return connector(access)


def pod(name: str, script: str = "echo hello", **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "contract", **labels}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {"name": "base", "image": "busybox:1.36", "command": ["sh", "-c", script]}
            ],
        },
    }


def phase(api: KubeApi, name: str) -> str | None:
    found = api.get_pod(NS, name)
    return None if found is None else found["status"].get("phase")


def watch_until(
    api: KubeApi, selector: str, version: str, stop: Callable[[WatchEvent], bool]
) -> list[WatchEvent]:
    seen: list[WatchEvent] = []
    for event in api.watch_pods(NS, selector, version, timeout=20):
        seen.append(event)
        if stop(event):
            break
    return seen


def finished(event: WatchEvent) -> bool:
    return event.object.get("status", {}).get("phase") in ("Succeeded", "Failed")


# --- create, get, list, delete -------------------------------------------------------------


def test_a_created_pod_is_read_back_and_listed_by_its_labels(api: KubeApi) -> None:
    created = api.create_pod(NS, pod("read-back", run="r1"))
    assert created["metadata"]["uid"] and created["status"]["phase"] == "Pending"
    assert api.get_pod(NS, "read-back")["metadata"]["uid"] == created["metadata"]["uid"]  # type: ignore[index]
    items, version = api.list_pods(NS, "app=contract,run=r1")
    assert [item["metadata"]["name"] for item in items] == ["read-back"]
    assert int(version) >= int(created["metadata"]["resourceVersion"])
    assert api.list_pods(NS, "run in (other)")[0] == []
    api.delete_pod(NS, "read-back", grace_seconds=0)
    assert api.get_pod(NS, "read-back") is None


def test_creating_a_pod_twice_is_already_exists(api: KubeApi) -> None:
    api.create_pod(NS, pod("twice"))
    with pytest.raises(AlreadyExists) as caught:
        api.create_pod(NS, pod("twice"))
    assert caught.value.status == 409
    assert 'pods "twice" already exists' in str(caught.value)
    api.delete_pod(NS, "twice", grace_seconds=0)


def test_a_missing_namespace_or_pod_is_not_found(api: KubeApi) -> None:
    with pytest.raises(NotFound, match='namespaces "nowhere" not found'):
        api.create_pod("nowhere", pod("lost"))
    assert api.get_pod(NS, "never-made") is None
    api.delete_pod(NS, "never-made")  # deleting what is gone is fine


def test_an_invalid_manifest_is_refused_with_the_field(api: KubeApi) -> None:
    manifest = pod("no-containers")
    manifest["spec"] = {"containers": []}
    with pytest.raises(KubeError) as caught:
        api.create_pod(NS, manifest)
    assert caught.value.status == 422
    assert "spec.containers: Required value" in caught.value.message


def test_deleting_a_running_pod_stops_it_and_watchers_see_it_go(api: KubeApi) -> None:
    _, version = api.list_pods(NS, "run=del")
    api.create_pod(NS, pod("doomed", "echo up; sleep 300", run="del"))
    eventually(lambda: phase(api, "doomed") == "Running", what="the pod to run")
    api.delete_pod(NS, "doomed", grace_seconds=5)
    seen = watch_until(api, "run=del", version, lambda event: event.type == "DELETED")
    last = seen[-1].object["status"]["containerStatuses"][0]["state"]
    assert last["terminated"]["exitCode"] == 143  # SIGTERM, within the grace period


# --- watch ---------------------------------------------------------------------------------


def test_a_watch_from_the_list_version_sees_the_pod_to_its_end(api: KubeApi) -> None:
    _, version = api.list_pods(NS, "run=w1")
    api.create_pod(NS, pod("watched", run="w1"))
    seen = watch_until(api, "run=w1", version, finished)
    assert seen[0].type == "ADDED"
    phases = [e.object["status"]["phase"] for e in seen if e.type != "BOOKMARK"]
    assert phases[0] == "Pending" and phases[-1] == "Succeeded"
    assert "Running" in phases
    api.delete_pod(NS, "watched")


def test_a_watch_resumes_after_a_resource_version(api: KubeApi) -> None:
    _, version = api.list_pods(NS, "run=w2")
    api.create_pod(NS, pod("resumed", run="w2"))
    first = watch_until(api, "run=w2", version, finished)
    middle = first[len(first) // 2].object["metadata"]["resourceVersion"]
    again = watch_until(api, "run=w2", middle, finished)
    versions = [int(e.object["metadata"]["resourceVersion"]) for e in again]
    assert versions and min(versions) > int(middle)
    assert [e.object["metadata"]["resourceVersion"] for e in again if e.type != "BOOKMARK"] == [
        e.object["metadata"]["resourceVersion"]
        for e in first
        if int(e.object["metadata"]["resourceVersion"]) > int(middle) and e.type != "BOOKMARK"
    ]
    api.delete_pod(NS, "resumed")


def test_bookmarks_carry_the_version_to_resume_from(api: KubeApi) -> None:
    _, version = api.list_pods(NS, "run=quiet")
    bookmark = watch_until(api, "run=quiet", version, lambda event: event.type == "BOOKMARK")[-1]
    assert bookmark.type == "BOOKMARK"
    assert int(bookmark.object["metadata"]["resourceVersion"]) >= int(version)


def test_a_watch_ends_at_its_timeout(api: KubeApi) -> None:
    _, version = api.list_pods(NS, "run=none")
    events = list(api.watch_pods(NS, "run=none", version, timeout=1))
    assert {event.type for event in events} <= {"BOOKMARK"}


def test_a_compacted_version_is_gone(api: KubeApi, cluster: FakeCluster) -> None:
    _, version = api.list_pods(NS, "")
    api.create_pod(NS, pod("compacted", run="gone"))
    cluster.state.compact()
    with pytest.raises(Gone, match="too old resource version") as caught:
        list(api.watch_pods(NS, "", version, timeout=5))
    assert caught.value.status == 410
    api.delete_pod(NS, "compacted")


def test_an_expired_watch_is_gone_and_a_relist_recovers(api: KubeApi, cluster: FakeCluster) -> None:
    _, version = api.list_pods(NS, "")
    cluster.api.expire_next_watch()
    with pytest.raises(Gone):
        next(iter(api.watch_pods(NS, "", version, timeout=5)))
    _, fresh = api.list_pods(NS, "")
    assert list(api.watch_pods(NS, "run=none", fresh, timeout=1)) is not None


def test_a_dropped_watch_is_unreachable(api: KubeApi, cluster: FakeCluster) -> None:
    _, version = api.list_pods(NS, "run=drop")
    stream = api.watch_pods(NS, "run=drop", version, timeout=20)
    assert next(stream).type == "BOOKMARK"
    cluster.api.drop_watches()
    with pytest.raises(Unreachable, match="watching pods"):
        list(stream)


# --- token reviews, events, logs ----------------------------------------------------------

AUDIENCE = "brisa-execution"
POD_NAME, POD_UID = "authentication.kubernetes.io/pod-name", "authentication.kubernetes.io/pod-uid"


def projected_pod(name: str) -> dict[str, Any]:
    """A pod that prints the projected service account token its kubelet mounted."""
    manifest: dict[str, Any] = pod(name)
    container = manifest["spec"]["containers"][0]
    container["command"] = ["cat", "/var/run/secrets/id/token"]
    container["volumeMounts"] = [{"name": "id", "mountPath": "/var/run/secrets/id"}]
    source = {"audience": AUDIENCE, "expirationSeconds": 600, "path": "token"}
    manifest["spec"]["volumes"] = [
        {"name": "id", "projected": {"sources": [{"serviceAccountToken": source}]}}
    ]
    return manifest


def test_a_token_review_names_the_pod_a_projected_token_is_bound_to(api: KubeApi) -> None:
    created = api.create_pod(NS, projected_pod("prover"))
    eventually(lambda: phase(api, "prover") == "Succeeded", what="the pod to print its token")
    token = b"".join(api.pod_log(NS, "prover")).decode().strip()
    status = api.review_token(token, [AUDIENCE])
    assert status["authenticated"] is True and status["audiences"] == [AUDIENCE]
    assert status["user"]["username"] == f"system:serviceaccount:{NS}:default"
    assert status["user"]["extra"][POD_NAME] == ["prover"]
    assert status["user"]["extra"][POD_UID] == [created["metadata"]["uid"]]
    # Another audience (the API server's own), a forged signature: not valid (a real server
    # leaves `authenticated` out of a refusal, as the fake does).
    other = api.review_token(token, ["https://kubernetes.default.svc.cluster.local"])
    assert not other.get("authenticated") and "audiences" in other["error"]
    head, claims, _ = token.split(".")
    forged = api.review_token(f"{head}.{claims}.AAAA", [AUDIENCE])
    assert not forged.get("authenticated") and "invalid bearer token" in forged["error"]
    # Bound to its pod: worth nothing once the pod is gone.
    api.delete_pod(NS, "prover", grace_seconds=0)
    eventually(lambda: api.get_pod(NS, "prover") is None, what="the pod to go")
    gone = api.review_token(token, [AUDIENCE])
    assert not gone.get("authenticated") and "not found" in gone["error"]


def test_a_token_review_without_the_permission_is_forbidden(
    api: KubeApi, cluster: FakeCluster
) -> None:
    cluster.api.forbid("create", "tokenreviews")
    with pytest.raises(Forbidden, match="tokenreviews"):
        api.review_token("x.y.z", [AUDIENCE])


def test_events_of_a_pod_come_oldest_first(api: KubeApi) -> None:
    api.create_pod(NS, pod("eventful"))
    eventually(lambda: phase(api, "eventful") == "Succeeded", what="the pod to finish")
    reasons = [event["reason"] for event in api.pod_events(NS, "eventful")]
    assert reasons == ["Scheduled", "Pulled", "Created", "Started"]
    assert api.pod_events(NS, "nobody") == []
    api.delete_pod(NS, "eventful")


def test_a_log_is_read_whole_or_followed_to_the_end(api: KubeApi) -> None:
    script = "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo oops >&2"
    api.create_pod(NS, pod("talker", script))
    eventually(lambda: phase(api, "talker") in ("Running", "Succeeded"), what="the start")
    followed = b"".join(api.pod_log(NS, "talker", follow=True))
    assert followed == b"line 1\nline 2\nline 3\noops\n"
    assert b"".join(api.pod_log(NS, "talker", container="base")) == followed
    with pytest.raises(KubeError) as caught:
        list(api.pod_log(NS, "talker", container="sidecar"))
    assert caught.value.status == 400
    with pytest.raises(NotFound):
        list(api.pod_log(NS, "ghost"))
    api.delete_pod(NS, "talker")


# --- the start-up probe and access ---------------------------------------------------------


def test_check_passes_with_access_and_names_what_is_wrong(
    api: KubeApi, cluster: FakeCluster
) -> None:
    api.check(NS)
    with pytest.raises(NotFound, match="namespace elsewhere does not exist"):
        api.check("elsewhere")
    cluster.api.forbid("delete", "pods")
    cluster.api.forbid("get", "pods/log")
    try:
        with pytest.raises(Forbidden, match="may not delete pods, get pods/log in namespace"):
            api.check(NS)
    finally:
        cluster.api.allow("delete", "pods")
        cluster.api.allow("get", "pods/log")


def test_a_refused_verb_is_forbidden_with_the_servers_words(
    api: KubeApi, cluster: FakeCluster
) -> None:
    cluster.api.forbid("create", "pods")
    try:
        with pytest.raises(Forbidden, match='cannot create resource "pods"'):
            api.create_pod(NS, pod("refused"))
    finally:
        cluster.api.allow("create", "pods")


def test_a_wrong_token_is_unauthorized_and_a_rotated_one_is_read_again(
    connector: Connect, cluster: FakeCluster, token_file: Path
) -> None:
    token_file.write_text("old-token")
    api = connector(
        ApiAccess(server=cluster.url, token_file=str(token_file), ca_file=str(cluster.ca_file))
    )
    with pytest.raises(Unauthorized, match="credentials were refused"):
        api.check(NS)
    token_file.write_text(TOKEN)
    api.check(NS)


def test_an_outage_is_unreachable_then_over(api: KubeApi, cluster: FakeCluster) -> None:
    cluster.api.outage(1.0)
    with pytest.raises(Unreachable, match="is unreachable"):
        api.check(NS)
    eventually(lambda: _answers(api), what="the server to come back")


def _answers(api: KubeApi) -> bool:
    try:
        api.check(NS)
    except Unreachable:
        return False
    return True


def test_a_server_that_never_answers_times_out(connector: Connect) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        api = connector(ApiAccess(server=url, timeout=0.3))
        with pytest.raises(Unreachable, match=r"did not answer within 0\.3s"):
            api.get_pod(NS, "any")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_is_checked_against_the_ca_file(
    connector: Connect, cluster: FakeCluster, token_file: Path
) -> None:
    api = connector(ApiAccess(server=cluster.url, token_file=str(token_file), timeout=5))
    with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
        api.check(NS)
    insecure = ApiAccess(server=cluster.url, token_file=str(token_file), insecure=True)
    connector(insecure).check(NS)


def test_a_kubeconfig_file_and_its_context_are_used(
    connector: Connect, cluster: FakeCluster, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(f"""
apiVersion: v1
kind: Config
current-context: wrong
clusters:
- name: fake
  cluster: {{server: "{cluster.url}", certificate-authority: "{cluster.ca_file}"}}
users:
- name: good
  user: {{token: "{TOKEN}"}}
- name: bad
  user: {{token: "nope"}}
contexts:
- name: wrong
  context: {{cluster: fake, user: bad}}
- name: right
  context: {{cluster: fake, user: good}}
""")
    connector(ApiAccess(kubeconfig=str(kubeconfig), context="right")).check(NS)
    with pytest.raises(Unauthorized):
        connector(ApiAccess(kubeconfig=str(kubeconfig))).check(NS)


def test_unusable_access_settings_say_why(connector: Connect, tmp_path: Path) -> None:
    with pytest.raises(KubeError, match="not found"):
        connector(ApiAccess(kubeconfig=str(tmp_path / "missing")))
    with pytest.raises(KubeError, match="in-cluster"):
        connector(ApiAccess(service_account=str(tmp_path)))


def test_calls_from_many_threads_share_one_client(api: KubeApi) -> None:
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(10):
                api.list_pods(NS, "app=contract")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
