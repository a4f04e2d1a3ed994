"""What a pod's state means for its attempt (`executor.kubernetes.classify`): a table of pod
statuses as the API server reports them, each with the reason a user sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brisa.core.observations import Ending, Waiting
from brisa.executor.kubernetes.classify import Rules, Running, classify

CREATED = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
RULES = Rules(pending_timeout=600)


def stamp(seconds: float) -> str:
    return (CREATED + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(phase: str, *, memory: str = "512Mi", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "brisa-data-7-1",
            "namespace": "brisa",
            "uid": "3b2c6a8e-0000-4000-8000-000000000001",
            "resourceVersion": "1234",
            "creationTimestamp": stamp(0),
            "labels": {"app.kubernetes.io/managed-by": "brisa", "brisa.dev/try": "1"},
        },
        "spec": {
            "restartPolicy": "Never",
            "nodeName": "node-a" if phase != "Pending" else None,
            "containers": [
                {
                    "name": "base",
                    "image": "ghcr.io/acme/brisa:1.0",
                    "resources": {"limits": {"memory": memory, "cpu": "1"}},
                }
            ],
        },
        "status": {"phase": phase, **status},
    }


def container(
    state: dict[str, Any], name: str = "base", last: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    entry = {
        "name": name,
        "ready": False,
        "restartCount": 0,
        "image": "x",
        "imageID": "",
        "state": state,
    }
    if last:
        entry["lastState"] = last
    return [entry]


def waiting(reason: str, message: str = "") -> list[dict[str, Any]]:
    return container({"waiting": {"reason": reason, "message": message}})


def terminated(code: int, reason: str = "Error", message: str = "") -> list[dict[str, Any]]:
    state = {"exitCode": code, "reason": reason, "startedAt": stamp(5), "finishedAt": stamp(9)}
    if message:
        state["message"] = message
    return container({"terminated": state})


def deleting(pod_json: dict[str, Any], at: float = 8) -> dict[str, Any]:
    """`pod_json` with a graceful deletion asked for `at` seconds after its creation."""
    meta = {**pod_json["metadata"], "deletionTimestamp": stamp(at + 30)}
    return {**pod_json, "metadata": {**meta, "deletionGracePeriodSeconds": 30}}


DELETED = Ending(
    False,
    "infrastructure failure (pod deleted by someone else): pod brisa-data-7-1 was deleted "
    "while it ran",
    infrastructure=True,
)
UNSCHEDULABLE = [
    {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory.",
    }
]
PULL_FAILED = {
    "reason": "Failed",
    "type": "Warning",
    "message": 'Failed to pull image "ghcr.io/acme/nope:1": not found',
}
SCHEDULING_EVENT = {
    "reason": "FailedScheduling",
    "type": "Warning",
    "message": "0/3 nodes are available: 1 node(s) had untolerated taint {gpu: true}.",
    "lastTimestamp": stamp(3),
}

CASES: list[tuple[str, dict[str, Any], list[dict[str, Any]], float, Any]] = [
    (
        "running",
        pod(
            "Running",
            startTime=stamp(2),
            containerStatuses=container({"running": {"startedAt": stamp(4)}}),
        ),
        [],
        10,
        Running("node-a", CREATED + timedelta(seconds=2)),
    ),
    ("pending, not scheduled yet", pod("Pending"), [], 1, Waiting("Pending", "", CREATED)),
    (
        "container creating",
        pod("Pending", containerStatuses=waiting("ContainerCreating")),
        [],
        3,
        Waiting("Pending", "", CREATED),
    ),
    (
        "unschedulable waits with the scheduler's message",
        pod("Pending", conditions=UNSCHEDULABLE),
        [],
        60,
        Waiting("Unschedulable", UNSCHEDULABLE[0]["message"], CREATED),
    ),
    (
        "unschedulable from the event alone",
        pod("Pending"),
        [SCHEDULING_EVENT],
        60,
        Waiting("Unschedulable", SCHEDULING_EVENT["message"], CREATED),
    ),
    (
        "unschedulable past the pending timeout",
        pod("Pending", conditions=UNSCHEDULABLE),
        [],
        601,
        Ending(
            False,
            "pending for more than 600s (pending_timeout): Unschedulable: "
            + UNSCHEDULABLE[0]["message"],
        ),
    ),
    (
        "invalid image name fails at once",
        pod(
            "Pending",
            containerStatuses=waiting("InvalidImageName", 'couldn\'t parse image name "Bad:Name"'),
        ),
        [],
        2,
        Ending(False, 'InvalidImageName: couldn\'t parse image name "Bad:Name"'),
    ),
    (
        "a first image pull error waits",
        pod("Pending", containerStatuses=waiting("ErrImagePull", "not found")),
        [PULL_FAILED],
        5,
        Waiting("ErrImagePull", "not found", CREATED),
    ),
    (
        "the third image pull error fails",
        pod("Pending", containerStatuses=waiting("ErrImagePull", "not found")),
        [{**PULL_FAILED, "count": 3}],
        20,
        Ending(False, "ErrImagePull: not found"),
    ),
    (
        "image pull back-off fails",
        pod(
            "Pending",
            containerStatuses=waiting(
                "ImagePullBackOff", 'Back-off pulling image "ghcr.io/acme/nope:1"'
            ),
        ),
        [],
        20,
        Ending(False, 'ImagePullBackOff: Back-off pulling image "ghcr.io/acme/nope:1"'),
    ),
    (
        "a missing secret of the user's fails",
        pod(
            "Pending",
            containerStatuses=waiting(
                "CreateContainerConfigError", 'secret "db-password" not found'
            ),
        ),
        [],
        3,
        Ending(False, 'CreateContainerConfigError: secret "db-password" not found'),
    ),
    (
        "a missing secret fails at once whatever its name (Brisa has none to wait for)",
        pod(
            "Pending",
            containerStatuses=waiting(
                "CreateContainerConfigError", 'secret "brisa-token-brisa-data-7-1" not found'
            ),
        ),
        [],
        1,
        Ending(False, 'CreateContainerConfigError: secret "brisa-token-brisa-data-7-1" not found'),
    ),
    (
        "succeeded",
        pod("Succeeded", containerStatuses=terminated(0, "Completed")),
        [],
        10,
        Ending(True, "exit code 0", 0),
    ),
    (
        "non-zero exit with the termination message",
        pod("Failed", containerStatuses=terminated(3, message="Traceback...\nValueError: bad row")),
        [],
        10,
        Ending(False, "exit code 3: ValueError: bad row", 3),
    ),
    (
        "killed by a signal",
        pod("Failed", containerStatuses=terminated(143)),
        [],
        10,
        Ending(False, "exit code 143 (killed by SIGTERM)", 143),
    ),
    (
        "OOMKilled with the limit",
        pod("Failed", containerStatuses=terminated(137, "OOMKilled")),
        [],
        10,
        Ending(False, "OOMKilled (container base, exit 137, limit 512Mi)", 137),
    ),
    (
        "OOMKilled although the phase says succeeded",
        pod("Succeeded", memory="1Gi", containerStatuses=terminated(137, "OOMKilled")),
        [],
        10,
        Ending(False, "OOMKilled (container base, exit 137, limit 1Gi)", 137),
    ),
    (
        "evicted is an infrastructure failure",
        pod("Failed", reason="Evicted", message="The node was low on resource: memory."),
        [],
        10,
        Ending(
            False,
            "infrastructure failure (evicted): The node was low on resource: memory.",
            infrastructure=True,
        ),
    ),
    (
        "preempted (DisruptionTarget)",
        pod(
            "Failed",
            containerStatuses=terminated(137),
            conditions=[
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "PreemptionByScheduler",
                    "message": "preempted by a higher priority pod",
                }
            ],
        ),
        [],
        10,
        Ending(
            False,
            "infrastructure failure (preempted): PreemptionByScheduler: preempted by a higher "
            "priority pod",
            infrastructure=True,
        ),
    ),
    (
        "evicted through the API while running",
        pod(
            "Running",
            conditions=[
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                }
            ],
        ),
        [],
        10,
        Ending(
            False,
            "infrastructure failure (evicted): EvictionByEvictionAPI: Eviction API: evicting",
            infrastructure=True,
        ),
    ),
    ("deleted by someone else while running", deleting(pod("Running")), [], 10, DELETED),
    (
        "deleted by someone else: SIGTERM after the request",
        deleting(pod("Failed", containerStatuses=terminated(143))),
        [],
        10,
        DELETED,
    ),
    (
        "deleted after it ended by itself: its outcome stands",
        deleting(pod("Succeeded", containerStatuses=terminated(0, "Completed")), at=60),
        [],
        70,
        Ending(True, "exit code 0", 0),
    ),
    (
        "node lost (phase Unknown)",
        pod("Unknown"),
        [],
        10,
        Ending(
            False,
            "infrastructure failure (node lost): the pod's node stopped reporting",
            infrastructure=True,
        ),
    ),
    (
        "node lost (reason NodeLost)",
        pod(
            "Running",
            reason="NodeLost",
            message="Node node-a which was running pod is unresponsive",
        ),
        [],
        10,
        Ending(
            False,
            "infrastructure failure (node lost): Node node-a which was running pod is unresponsive",
            infrastructure=True,
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "pod_json", "events", "age", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_a_pod_is_classified_with_the_reason_a_user_sees(
    name: str, pod_json: dict[str, Any], events: list[dict[str, Any]], age: float, expected: Any
) -> None:
    assert classify(pod_json, events, CREATED + timedelta(seconds=age), RULES) == expected


@pytest.mark.parametrize(
    ("message", "result"),
    [
        ('{"rows": 3}\n', {"rows": 3}),
        ("[1, 2]", [1, 2]),
        ("42", 42),
        ('"quoted"', "quoted"),
        ("null", None),
        ("rows: three\n", "rows: three"),  # not JSON: the text
        ("{rows: 3}", "{rows: 3}"),
        ("", None),
        ("\n", None),
    ],
)
def test_a_container_that_exited_zero_returns_its_termination_message(
    message: str, result: Any
) -> None:
    pod_json = pod("Succeeded", containerStatuses=terminated(0, "Completed", message))
    ending = classify(pod_json, [], CREATED + timedelta(seconds=10), RULES)
    assert ending == Ending(True, "exit code 0", 0, result=result)


def test_a_failed_containers_message_is_its_reason_not_a_result() -> None:
    pod_json = pod("Failed", containerStatuses=terminated(3, "Error", '{"rows": 3}'))
    ending = classify(pod_json, [], CREATED + timedelta(seconds=10), RULES)
    assert ending == Ending(False, 'exit code 3: {"rows": 3}', 3)
