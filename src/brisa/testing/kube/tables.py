"""The `Table` form of a pod list (`Accept: ...;as=Table;g=meta.k8s.io`), which `kubectl get
pods` asks for: the columns a real server prints (NAME, READY, STATUS, RESTARTS, AGE, and with
`-o wide` IP and NODE)."""

from __future__ import annotations

from datetime import UTC, datetime

from brisa.testing.kube.objects import Json

_COLUMNS = [
    ("Name", 0, "name"),
    ("Ready", 0, ""),
    ("Status", 0, ""),
    ("Restarts", 0, ""),
    ("Age", 0, ""),
    ("IP", 1, ""),
    ("Node", 1, ""),
]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(created: str) -> str:
    then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _status(pod: Json) -> str:
    """What the STATUS column says: the pod's reason, a container's waiting or terminated
    reason, Terminating, or the phase."""
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status", {})
    if status.get("reason"):
        return str(status["reason"])
    for container in status.get("containerStatuses") or []:
        state = container.get("state", {})
        for key in ("waiting", "terminated"):
            if state.get(key, {}).get("reason"):
                return str(state[key]["reason"])
    return str(status.get("phase", "Pending"))


def _row(pod: Json) -> Json:
    status = pod.get("status", {})
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in containers)
    cells = [
        pod["metadata"]["name"],
        f"{ready}/{len(pod['spec']['containers'])}",
        _status(pod),
        str(restarts),
        _age(pod["metadata"]["creationTimestamp"]),
        status.get("podIP", "<none>"),
        pod["spec"].get("nodeName", "<none>"),
    ]
    return {"cells": cells, "object": {"kind": "Pod", "apiVersion": "v1", **pod}}


def pod_table(pods: list[Json], version: str) -> Json:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": version},
        "columnDefinitions": [
            {
                "name": name,
                "type": "string",
                "format": fmt,
                "description": name,
                "priority": priority,
            }
            for name, priority, fmt in _COLUMNS
        ],
        "rows": [_row(pod) for pod in pods],
    }
