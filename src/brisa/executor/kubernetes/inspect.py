"""What an attempt's pod shows, for "why is this not running" (`core.observations.PodFacts`):
its phase, node, image and last events, read from the API server when someone asks (the
attempt page, `GET .../attempts/{n}`), never kept."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from brisa.core.observations import PodFacts
from brisa.core.records import AttemptRef
from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.api import KubeApi, KubeError
from brisa.executor.kubernetes.classify import task_container

log = logging.getLogger("brisa.kubernetes")
Json = Mapping[str, Any]
EVENTS_SHOWN = 5


def pod_facts(pod: Json, events: Sequence[Json]) -> PodFacts:
    """The facts of `pod` and its last `EVENTS_SHOWN` events (oldest first)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    name = task_container(pod)
    containers = spec.get("containers") or [{}]
    main = next((c for c in containers if c.get("name") == name), containers[0])
    ordered = sorted(events, key=_when)[-EVENTS_SHOWN:]
    return PodFacts(
        name=str(pod["metadata"]["name"]),
        phase=str(status.get("phase") or "Pending"),
        node=str(spec.get("nodeName") or ""),
        image=str(main.get("image") or ""),
        events=tuple(_event_line(e) for e in ordered),
    )


def _when(event: Json) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or "")


def _event_line(event: Json) -> str:
    count = int(event.get("count") or 1)
    times = f" (x{count})" if count > 1 else ""
    kind, reason = event.get("type") or "Normal", event.get("reason") or ""
    return f"{kind} {reason}{times}: {event.get('message') or ''}".rstrip(": ")


class PodInspector:
    """Reads an attempt's pod and events on demand. `connect` builds the client on first use
    (so a process that never asks never imports it); `namespace_for` is the team's namespace."""

    def __init__(self, connect: Callable[[], KubeApi], namespace_for: Callable[[str], str]):
        self._connect, self._namespace_for = connect, namespace_for
        self._api: KubeApi | None = None
        self._lock = threading.Lock()

    def __call__(self, team: str, ref: AttemptRef) -> PodFacts | None:
        """The facts of the attempt's pod; None when it has none (yet) or cannot be read."""
        namespace = self._namespace_for(team)
        name = naming.pod_name(team, ref.ti_id, ref.try_number)
        try:
            api = self._client()
            pod = api.get_pod(namespace, name)
            if pod is None:
                return None
            return pod_facts(pod, api.pod_events(namespace, name))
        except KubeError as exc:
            log.warning("could not read pod %s/%s: %s", namespace, name, exc)
            return None

    def _client(self) -> KubeApi:
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api
