"""The pieces of a pod's `status` the fake kubelet writes, shaped as a real kubelet writes
them: conditions, container statuses, the phase a terminated container leaves."""

from __future__ import annotations

import hashlib

from brisa.testing.kube.objects import Json, now_rfc3339

NODE = "fake-node-1"
HOST_IP = "10.0.0.11"


def _condition(type_: str, ok: bool, reason: str | None = None) -> Json:
    condition: Json = {
        "type": type_,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now_rfc3339(),
    }
    if reason and not ok:
        condition["reason"] = reason
    return condition


def scheduled() -> Json:
    return _condition("PodScheduled", True)


def conditions(*, ready: bool, reason: str = "ContainersNotReady") -> list[Json]:
    """The conditions of a scheduled pod, ready or not (and why not)."""
    return [
        _condition("PodReadyToStartContainers", True),
        _condition("Initialized", True),
        _condition("Ready", ready, reason),
        _condition("ContainersReady", ready, reason),
        _condition("PodScheduled", True),
    ]


def container_status(container: Json, state: Json, *, ready: bool) -> Json:
    image = container["image"]
    digest = hashlib.sha256(image.encode()).hexdigest()
    status: Json = {
        "name": container["name"],
        "state": state,
        "lastState": {},
        "ready": ready,
        "restartCount": 0,
        "image": image,
        "imageID": f"{image.split('@')[0].split(':')[0]}@sha256:{digest}",
        "started": "running" in state,
    }
    if "terminated" in state:
        status["containerID"] = state["terminated"]["containerID"]
    return status


def terminated_phase(code: int, status: dict[str, object]) -> str:
    return "Failed" if code != 0 or status.get("reason") == "Evicted" else "Succeeded"
