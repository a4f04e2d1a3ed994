"""The fake kubelet runs pods as local processes and reports them as a real kubelet does: each
injected fault shows the pod JSON a real cluster would (phase, conditions, containerStatuses,
events), deleting a pod stops its process group, and stopping the harness leaves no process.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest

from brisa.testing.kube import (
    DeletedByOther,
    Evicted,
    FakeCluster,
    ImagePullError,
    NodeLost,
    OomKilled,
    SlowStart,
    Unschedulable,
)
from brisa.testing.kube.objects import default_pod
from brisa.testing.server import eventually

NS = "jobs"
Json = dict[str, Any]


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    with FakeCluster(namespaces=(NS,), retry=0.1) as fake:
        yield fake


def run_pod(cluster: FakeCluster, name: str, script: str = "echo ok", **extra: Any) -> Json:
    container = {"name": "base", "image": "busybox:1.36", "command": ["sh", "-c", script]}
    container.update(extra.pop("container", {}))
    manifest = {
        "metadata": {"name": name, "labels": {"task": name}, **extra.pop("metadata", {})},
        "spec": {"restartPolicy": "Never", "containers": [container], **extra},
    }
    return cluster.state.create("pods", NS, default_pod(manifest, NS))


def pod(cluster: FakeCluster, name: str) -> Json:
    found = cluster.pod(NS, name)
    assert found is not None, f"pod {name} is gone"
    return found


def container_state(cluster: FakeCluster, name: str) -> Json:
    statuses = pod(cluster, name)["status"].get("containerStatuses") or [{"state": {}}]
    return dict(statuses[0]["state"])


def condition(found: Json, type_: str) -> Json:
    return next(c for c in found["status"]["conditions"] if c["type"] == type_)


def reasons(cluster: FakeCluster, name: str) -> list[str]:
    return [event["reason"] for event in cluster.events(NS, name)]


def ends(cluster: FakeCluster, name: str) -> Json:
    eventually(
        lambda: pod(cluster, name)["status"]["phase"] in ("Succeeded", "Failed"),
        what=f"pod {name} to end",
    )
    return pod(cluster, name)


def test_a_pod_runs_to_success_as_a_real_kubelet_reports_it(cluster: FakeCluster) -> None:
    run_pod(cluster, "fine", "echo hi from $HOSTNAME")
    found = ends(cluster, "fine")
    status = found["status"]
    assert status["phase"] == "Succeeded"
    assert found["spec"]["nodeName"] and status["hostIP"] and status["startTime"]
    assert condition(found, "PodScheduled")["status"] == "True"
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert terminated["startedAt"] <= terminated["finishedAt"]
    assert reasons(cluster, "fine") == ["Scheduled", "Pulled", "Created", "Started"]
    assert cluster.log(NS, "fine") == b"hi from fine\n"


def test_a_non_zero_exit_fails_the_pod_with_its_code(cluster: FakeCluster) -> None:
    run_pod(cluster, "bad", "echo boom >&2; exit 3")
    found = ends(cluster, "bad")
    assert found["status"]["phase"] == "Failed"
    terminated = found["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert cluster.log(NS, "bad") == b"boom\n"


def test_an_unschedulable_pod_stays_pending_with_the_schedulers_message(
    cluster: FakeCluster,
) -> None:
    cluster.inject(Unschedulable(), where="task=big")
    run_pod(cluster, "big")
    eventually(lambda: reasons(cluster, "big") == ["FailedScheduling"], what="the event")
    found = pod(cluster, "big")
    assert found["status"]["phase"] == "Pending" and "nodeName" not in found["spec"]
    scheduled = condition(found, "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert "0/3 nodes are available: 3 Insufficient memory." in scheduled["message"]
    event = cluster.events(NS, "big")[0]
    assert (event["type"], event["source"]["component"]) == ("Warning", "default-scheduler")


def test_an_image_pull_error_backs_off_with_its_events(cluster: FakeCluster) -> None:
    cluster.inject(ImagePullError(), where="task=pull")
    run_pod(cluster, "pull")
    eventually(lambda: "BackOff" in reasons(cluster, "pull"), what="the back-off")
    eventually(
        lambda: container_state(cluster, "pull").get("waiting", {}).get("reason") == "ErrImagePull",
        what="the pull to be retried",
    )
    assert pod(cluster, "pull")["status"]["phase"] == "Pending"
    messages = [event["message"] for event in cluster.events(NS, "pull")]
    assert "Error: ErrImagePull" in messages and "Error: ImagePullBackOff" in messages
    assert any(message.startswith('Failed to pull image "busybox:1.36"') for message in messages)


def test_an_invalid_image_name_waits_with_inspect_failed(cluster: FakeCluster) -> None:
    run_pod(cluster, "badimage", container={"image": "Not A/Valid:Image"})
    eventually(lambda: "Failed" in reasons(cluster, "badimage"), what="the events")
    waiting = container_state(cluster, "badimage")["waiting"]
    assert waiting["reason"] == "InvalidImageName"
    assert "invalid reference format" in waiting["message"]
    assert reasons(cluster, "badimage")[-2:] == ["InspectFailed", "Failed"]


def test_a_missing_secret_waits_then_runs_once_it_exists(cluster: FakeCluster) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]
    run_pod(cluster, "needy", "echo token=$TOKEN", container={"env": env})
    eventually(
        lambda: (
            container_state(cluster, "needy").get("waiting", {}).get("reason")
            == "CreateContainerConfigError"
        ),
        what="the config error",
    )
    assert container_state(cluster, "needy")["waiting"]["message"] == 'secret "creds" not found'
    eventually(
        lambda: (
            'Error: secret "creds" not found' in [e["message"] for e in cluster.events(NS, "needy")]
        ),
        what="the Failed event",
    )
    secret = base64.b64encode(b"abc").decode()
    cluster.state.create("secrets", NS, {"metadata": {"name": "creds"}, "data": {"token": secret}})
    assert ends(cluster, "needy")["status"]["phase"] == "Succeeded"
    assert cluster.log(NS, "needy") == b"token=abc\n"


def test_a_secret_volume_is_readable_at_its_mount_path(cluster: FakeCluster) -> None:
    cluster.state.create(
        "secrets",
        NS,
        {"metadata": {"name": "vol"}, "data": {"key": base64.b64encode(b"k3y").decode()}},
    )
    run_pod(
        cluster,
        "mounted",
        container={
            "command": ["sh", "-c", 'cat "$KEY_FILE"; echo; cat "$1"', "sh"],
            "args": ["/etc/brisa/key"],
            "env": [{"name": "KEY_FILE", "value": "/etc/brisa/key"}],
            "volumeMounts": [{"name": "v", "mountPath": "/etc/brisa"}],
        },
        volumes=[{"name": "v", "secret": {"secretName": "vol"}}],
    )
    ends(cluster, "mounted")
    assert cluster.log(NS, "mounted") == b"k3y\nk3y"


def test_an_oom_kill_is_exit_137_with_reason_oomkilled(cluster: FakeCluster) -> None:
    cluster.inject(OomKilled(after=0.2), where="task=hog", times=1)
    run_pod(cluster, "hog", "sleep 300")
    found = ends(cluster, "hog")
    assert found["status"]["phase"] == "Failed"
    terminated = found["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "OOMKilled")
    run_pod(cluster, "hog2", metadata={"labels": {"task": "hog"}})  # the rule was used up
    assert ends(cluster, "hog2")["status"]["phase"] == "Succeeded"


def test_an_annotation_asks_for_a_fault(cluster: FakeCluster) -> None:
    run_pod(
        cluster, "asked", "sleep 300", metadata={"annotations": {"fake.brisa.dev/fault": "oom:0.1"}}
    )
    terminated = ends(cluster, "asked")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled"


def test_an_eviction_fails_the_pod_with_a_disruption_condition(cluster: FakeCluster) -> None:
    cluster.inject(Evicted(after=0.1), where="task=evicted")
    run_pod(cluster, "evicted", "sleep 300")
    found = ends(cluster, "evicted")
    assert (found["status"]["phase"], found["status"]["reason"]) == ("Failed", "Evicted")
    assert "The node was low on resource: memory." in found["status"]["message"]
    disruption = condition(found, "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "TerminationByKubelet")
    assert found["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137
    assert "Evicted" in reasons(cluster, "evicted")


def test_a_lost_node_leaves_the_pod_running_then_deletes_it(cluster: FakeCluster) -> None:
    seen: list[Json] = []
    cluster.state.subscribe(
        lambda change: (
            seen.append(change.obj) if change.obj["metadata"]["name"] == "stranded" else None
        )
    )
    cluster.inject(NodeLost(after=0.1, grace=0.3), where="task=stranded")
    created = run_pod(cluster, "stranded", "echo $$; sleep 300")
    eventually(lambda: cluster.pod(NS, "stranded") is None, what="the pod to be deleted")
    phases = [obj["status"].get("phase") for obj in seen]
    assert phases[-1] == "Running"  # never marked finished: its kubelet was gone
    last = seen[-1]
    assert condition(last, "Ready")["status"] == "False"
    assert condition(last, "DisruptionTarget")["reason"] == "DeletionByTaintManager"
    assert "NodeNotReady" in [
        e["reason"]
        for e in cluster.state.list("events", NS)[0]
        if e["involvedObject"]["uid"] == created["metadata"]["uid"]
    ]


def test_a_lost_node_can_fail_the_pod_as_node_lost(cluster: FakeCluster) -> None:
    cluster.inject(NodeLost(after=0.1, grace=0.1, delete=False), where="task=orphan")
    run_pod(cluster, "orphan", "sleep 300")
    found = ends(cluster, "orphan")
    assert (found["status"]["phase"], found["status"]["reason"]) == ("Failed", "NodeLost")
    assert "running" in found["status"]["containerStatuses"][0]["state"]


def test_a_slow_start_keeps_the_container_creating(cluster: FakeCluster) -> None:
    cluster.inject(SlowStart(delay=60), where="task=slow")
    run_pod(cluster, "slow")
    eventually(
        lambda: (
            container_state(cluster, "slow").get("waiting", {}).get("reason") == "ContainerCreating"
        ),
        what="the pod to be scheduled",
    )
    assert pod(cluster, "slow")["status"]["phase"] == "Pending"
    cluster.state.delete_pod(NS, "slow", None)
    eventually(lambda: cluster.pod(NS, "slow") is None, what="the pod to go")


def test_a_pod_deleted_by_someone_else_is_stopped_and_gone(cluster: FakeCluster) -> None:
    cluster.inject(DeletedByOther(after=0.1), where="task=victim")
    run_pod(cluster, "victim", "trap 'echo terminated; exit 143' TERM; sleep 300 & wait")
    eventually(lambda: cluster.pod(NS, "victim") is None, what="the pod to go")
    assert "Killing" in [
        e["reason"]
        for e in cluster.state.list("events", NS)[0]
        if e["involvedObject"]["name"] == "victim"
    ]


def test_deleting_a_pod_kills_its_process_group(cluster: FakeCluster) -> None:
    run_pod(cluster, "group", "sleep 300 & echo $! $$; wait", terminationGracePeriodSeconds=1)
    eventually(lambda: cluster.log(NS, "group").strip(), what="the pids")
    pids = [int(pid) for pid in cluster.log(NS, "group").split()]
    cluster.state.delete_pod(NS, "group", None)
    eventually(lambda: cluster.pod(NS, "group") is None, what="the pod to go")
    eventually(lambda: not any(_alive(pid) for pid in pids), what="its processes to die")


def test_stopping_the_harness_leaves_no_process() -> None:
    with FakeCluster(namespaces=(NS,)) as fake:
        run_pod(fake, "left", "echo $$; sleep 300")
        eventually(lambda: fake.log(NS, "left").strip(), what="the pid")
        pid = int(fake.log(NS, "left"))
        root = fake.root
    assert not _alive(pid)
    assert not root.exists()


def test_a_command_that_cannot_start_is_a_start_error(cluster: FakeCluster) -> None:
    run_pod(cluster, "nocmd", container={"command": ["/no/such/binary"]})
    terminated = ends(cluster, "nocmd")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (128, "StartError")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_the_termination_message_is_the_tail_of_the_file_the_command_wrote(
    cluster: FakeCluster,
) -> None:
    run_pod(cluster, "said", """echo '{"rows": 3}' > /dev/termination-log""")
    terminated = ends(cluster, "said")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"] == '{"rows": 3}\n'
    # The kubelet keeps the last 4 KiB of the file.
    script = "printf 'a%.0s' $(seq 5000) > /dev/termination-log; printf z >> /dev/termination-log"
    run_pod(cluster, "long", script)
    long = ends(cluster, "long")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert len(long["message"]) == 4096 and long["message"].endswith("az")


def test_a_pod_at_another_termination_path_writes_there(cluster: FakeCluster) -> None:
    run_pod(
        cluster, "elsewhere", "echo done > /tmp/result",
        container={"terminationMessagePath": "/tmp/result"},
    )  # fmt: skip
    terminated = ends(cluster, "elsewhere")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"] == "done\n"


def test_without_a_message_only_fallback_to_logs_on_error_uses_the_log(
    cluster: FakeCluster,
) -> None:
    run_pod(cluster, "silent", "echo out; exit 2")
    terminated = ends(cluster, "silent")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert "message" not in terminated
    run_pod(
        cluster, "fallback", "seq 100; exit 2",
        container={"terminationMessagePolicy": "FallbackToLogsOnError"},
    )  # fmt: skip
    terminated = ends(cluster, "fallback")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["message"] == "".join(f"{n}\n" for n in range(21, 101))
    run_pod(
        cluster, "fine-fallback", "echo out",
        container={"terminationMessagePolicy": "FallbackToLogsOnError"},
    )  # fmt: skip
    fine = ends(cluster, "fine-fallback")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert "message" not in fine
