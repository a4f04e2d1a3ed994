"""The fake API server's storage: objects by resource, namespace and name, one global
`resourceVersion` counter (as etcd's revision), a bounded history of changes that watches read
from (older versions are compacted: a watch or an exact list from before the window gets 410
Gone), the garbage collector of owned objects, and event recording for the kubelet.

Every read returns a copy: callers may change what they get without touching the store.
"""

from __future__ import annotations

import builtins
import copy
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from brisa.testing.kube.objects import (
    ApiStatus,
    Json,
    check_name,
    new_metadata,
    now_rfc3339,
    now_rfc3339_nano,
)

# resource (URL name) → (kind, namespaced)
KINDS: dict[str, tuple[str, bool]] = {
    "pods": ("Pod", True),
    "secrets": ("Secret", True),
    "configmaps": ("ConfigMap", True),
    "events": ("Event", True),
    "namespaces": ("Namespace", False),
}


@dataclass(frozen=True)
class Change:
    """One write, as a watch reports it."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    namespace: str
    obj: Json


Listener = Callable[[Change], None]


class ClusterState:
    """Thread-safe; `changed` is notified on every write (watches wait on it)."""

    def __init__(self, namespaces: tuple[str, ...] = ("default",), history: int = 1000) -> None:
        self.changed = threading.Condition()
        self._rv = 0
        self._objects: dict[tuple[str, str, str], Json] = {}
        self._owned: dict[str, set[tuple[str, str, str]]] = {}  # owner uid → dependents
        self._events: dict[tuple[str, str, str], str] = {}  # (uid, reason, message) → name
        self._history: deque[Change] = deque()
        self._history_size = history
        self._floor = 0  # changes up to this version are compacted away
        self._listeners: list[Listener] = []
        for namespace in namespaces:
            self.create("namespaces", "", {"metadata": {"name": namespace}})

    # --- reading --------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        with self.changed:
            return self._rv

    def get(self, resource: str, namespace: str, name: str) -> Json:
        with self.changed:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise ApiStatus.not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource: str, namespace: str, name: str) -> Json | None:
        try:
            return self.get(resource, namespace, name)
        except ApiStatus:
            return None

    def list(
        self, resource: str, namespace: str | None, match: Callable[[Json], bool] = bool
    ) -> tuple[builtins.list[Json], int]:
        """Items (by namespace and name) and the version the list is consistent with."""
        with self.changed:
            items = [
                copy.deepcopy(obj)
                for (res, ns, _), obj in sorted(self._objects.items(), key=lambda kv: kv[0])
                if res == resource and namespace in (None, ns) and match(obj)
            ]
            return items, self._rv

    def changes_after(self, rv: int, resource: str, namespace: str | None) -> builtins.list[Change]:
        """The changes of one resource after `rv`; 410 Gone when some were compacted."""
        with self.changed:
            self.check_not_compacted(rv)
            return [
                change
                for change in self._history
                if change.rv > rv
                and change.resource == resource
                and namespace in (None, change.namespace)
            ]

    def check_not_compacted(self, rv: int) -> None:
        with self.changed:
            if rv < self._floor:
                raise ApiStatus.gone(f"too old resource version: {rv} ({self._floor + 1})")

    # --- writing --------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """`listener` is called with every change, under the store's lock: it must only
        enqueue."""
        with self.changed:
            self._listeners.append(listener)

    def compact(self) -> None:
        """Forget the history: any version before now is too old."""
        with self.changed:
            self._floor = self._rv
            self._history.clear()

    def _record(self, kind: str, resource: str, namespace: str, obj: Json) -> Json:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        change = Change(self._rv, kind, resource, namespace, copy.deepcopy(obj))
        self._history.append(change)
        while len(self._history) > self._history_size:
            self._floor = self._history.popleft().rv
        for listener in self._listeners:
            listener(change)
        self.changed.notify_all()
        return copy.deepcopy(obj)

    def create(self, resource: str, namespace: str, obj: Json) -> Json:
        kind, namespaced = KINDS[resource]
        obj = copy.deepcopy(obj)
        obj["kind"], obj["apiVersion"] = kind, "v1"
        meta = new_metadata(obj, namespace if namespaced else None)
        check_name(kind, str(meta.get("name") or ""))
        with self.changed:
            if namespaced and ("namespaces", "", namespace) not in self._objects:
                raise ApiStatus.not_found("namespaces", namespace)
            key = (resource, namespace, meta["name"])
            if key in self._objects:
                raise ApiStatus.already_exists(resource, meta["name"])
            if resource == "namespaces":
                obj["spec"] = {"finalizers": ["kubernetes"]}
                obj["status"] = {"phase": "Active"}
            self._objects[key] = obj
            for ref in meta.get("ownerReferences") or []:
                self._owned.setdefault(str(ref.get("uid")), set()).add(key)
            return self._record("ADDED", resource, namespace, obj)

    def update(
        self, resource: str, namespace: str, name: str, mutate: Callable[[Json], object]
    ) -> Json:
        """Apply `mutate` to the stored object (a MODIFIED change); 404 when absent."""
        with self.changed:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise ApiStatus.not_found(resource, name)
            mutate(obj)
            return self._record("MODIFIED", resource, namespace, obj)

    def remove(self, resource: str, namespace: str, name: str) -> Json:
        """Delete now (a DELETED change), and the objects it owns (the garbage collector)."""
        with self.changed:
            obj = self._objects.pop((resource, namespace, name), None)
            if obj is None:
                raise ApiStatus.not_found(resource, name)
            gone = self._record("DELETED", resource, namespace, obj)
            for key in sorted(self._owned.pop(obj["metadata"]["uid"], set())):
                if key[1] == namespace and key in self._objects:
                    self.remove(*key)
            return gone

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> Json:
        """A delete as the API server does it: a pod on a node, still running, is only marked
        terminating (its kubelet stops it and removes it); any other pod goes at once, as
        does any pod with a grace period of 0."""
        with self.changed:
            pod = self._objects.get(("pods", namespace, name))
            if pod is None:
                raise ApiStatus.not_found("pods", name)
            if grace is None:
                grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
            phase = pod.get("status", {}).get("phase")
            if grace == 0 or not pod["spec"].get("nodeName") or phase in ("Succeeded", "Failed"):
                return self.remove("pods", namespace, name)
            if pod["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(pod)
            return self.update("pods", namespace, name, lambda p: deletion_stamp(p, grace))

    # --- events ---------------------------------------------------------------------------
    def record_event(
        self, pod: Json, type_: str, reason: str, message: str, component: str = "kubelet"
    ) -> None:
        """A core/v1 Event about `pod`; the same reason and message again counts up."""
        meta = pod["metadata"]
        namespace = meta["namespace"]
        with self.changed:
            seen = self._events.get((meta["uid"], reason, message))
            if seen is not None and ("events", namespace, seen) in self._objects:
                self.update("events", namespace, seen, _count_up)
                return
            stamp = now_rfc3339()
            host = pod.get("spec", {}).get("nodeName", "")
            event: dict[str, Any] = {
                "metadata": {"name": f"{meta['name']}.{self._rv + 1:016x}"},
                "involvedObject": {
                    "kind": "Pod",
                    "namespace": namespace,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "apiVersion": "v1",
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": component, **({"host": host} if host else {})},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": host if component == "kubelet" else "",
            }
            created = self.create("events", namespace, event)
            self._events[(meta["uid"], reason, message)] = created["metadata"]["name"]


def _count_up(event: Json) -> None:
    event["count"] = int(event.get("count", 1)) + 1
    event["lastTimestamp"] = now_rfc3339()


def deletion_stamp(pod: Json, grace: int) -> None:
    """Mark a pod as terminating, as a graceful delete does."""
    pod["metadata"]["deletionTimestamp"] = now_rfc3339()
    pod["metadata"]["deletionGracePeriodSeconds"] = grace


__all__ = ["KINDS", "Change", "ClusterState", "deletion_stamp", "now_rfc3339_nano"]
