"""The executor's view of Brisa's pods in one namespace, kept level-triggered from the API
server: list, then watch from the list's resourceVersion (with bookmarks); relist on 410
Gone, on a stream error, and every `resync` seconds in any case; reconnect with jittered
backoff; never a busy loop.

The view is the latest pod JSON per pod name, nothing else: applying an event twice, or
missing one, changes nothing that the next relist does not set right, so correctness never
depends on seeing an event. A pod that leaves the view (a DELETED event, or absent from a
relist that is newer than it) is handed to `on_vanished` once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from brisa.executor.kubernetes.api import Gone, KubeApi, WatchEvent
from brisa.logs.chunking import backoff

log = logging.getLogger("brisa.kubernetes")

Json = dict[str, Any]
RESYNC = 60.0  # seconds between full relists, whatever the watch says
WATCH_TIMEOUT = 30.0  # seconds a watch request lasts at most (server side)
QUICK = 0.05  # a watch that ends this fast with no change in it counts as a failure
GONE_KEPT = 10_000  # names of vanished pods remembered (`PodView.put`)


def version_of(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def newer(candidate: str, current: str) -> bool:
    """Whether resourceVersion `candidate` is at least as new as `current`. Versions are
    opaque to clients, but the API server's are increasing integers; where either is not,
    the candidate wins (the latest seen)."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) >= int(current)
    return True


class PodView:
    """The latest JSON of each pod, by name; thread-safe; idempotent updates."""

    def __init__(self, on_vanished: Callable[[Json], None]) -> None:
        self._pods: dict[str, Json] = {}
        # Pods seen gone: name -> the resourceVersion at which. A pod put later at that
        # version or older is the one that is gone (the answer to its create can come after
        # the watch said it was deleted), not a new pod of the same name.
        self._gone: dict[str, str] = {}
        self._lock = threading.Lock()
        self.on_vanished = on_vanished

    def pods(self) -> list[Json]:
        with self._lock:
            return list(self._pods.values())

    def get(self, name: str) -> Json | None:
        with self._lock:
            return self._pods.get(name)

    def put(self, pod: Json) -> bool:
        """Keep `pod` unless a newer version of it is kept already; whether it was kept."""
        name = pod["metadata"]["name"]
        with self._lock:
            current = self._pods.get(name)
            if current is not None and not newer(version_of(pod), version_of(current)):
                return False
            if current is None and name in self._gone:
                if not _after(version_of(pod), self._gone[name]):
                    return False
                del self._gone[name]
            self._pods[name] = pod
            return True

    def remove(self, pod: Json) -> None:
        """The pod is gone (a DELETED event), unless a newer version of it is kept."""
        name = pod["metadata"]["name"]
        with self._lock:
            current = self._pods.get(name)
            if current is None or not newer(version_of(pod), version_of(current)):
                return
            del self._pods[name]
            self._bury(name, version_of(pod))
        self.on_vanished(current)

    def _bury(self, name: str, version: str) -> None:
        """Remember that `name` was gone at `version` (the most recent GONE_KEPT names)."""
        self._gone.pop(name, None)
        self._gone[name] = version
        while len(self._gone) > GONE_KEPT:
            del self._gone[next(iter(self._gone))]

    def replace(self, items: Iterable[Json], list_version: str) -> None:
        """A full list at `list_version`: it is the truth, except for pods newer than it
        (created since: put by the executor from its create's answer)."""
        fresh = {pod["metadata"]["name"]: pod for pod in items}
        with self._lock:
            gone = [
                pod
                for name, pod in self._pods.items()
                if name not in fresh and not _newer_than_list(pod, list_version)
            ]
            kept = {
                name: pod
                for name, pod in self._pods.items()
                if name not in fresh and _newer_than_list(pod, list_version)
            }
            for name, pod in fresh.items():
                current = self._pods.get(name)
                keep_current = current is not None and not newer(
                    version_of(pod), version_of(current)
                )
                kept[name] = current if keep_current and current is not None else pod
            self._pods = kept
            for pod in gone:
                self._bury(pod["metadata"]["name"], list_version)
        for pod in gone:
            self.on_vanished(pod)


def _after(candidate: str, gone: str) -> bool:
    """Whether version `candidate` is later than `gone` (where either is not an integer, it
    cannot be told: taken as later, so a new pod is never refused)."""
    if candidate.isdigit() and gone.isdigit():
        return int(candidate) > int(gone)
    return True


def _newer_than_list(pod: Json, list_version: str) -> bool:
    version = version_of(pod)
    return version.isdigit() and list_version.isdigit() and int(version) > int(list_version)


class Reconciler:
    """Keeps a `PodView` of one namespace's Brisa pods (`selector`) from its own thread."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        selector: str,
        view: PodView,
        *,
        on_change: Callable[[], None] = lambda: None,
        matters: Callable[[Json], bool] = lambda pod: True,
        resync: float = RESYNC,
        watch_timeout: float = WATCH_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.api, self.namespace, self.selector, self.view = api, namespace, selector, view
        self.on_change = on_change
        self.matters = matters  # a change of this pod is worth a call to on_change
        self.resync, self.watch_timeout = resync, watch_timeout
        self.clock, self.jitter = clock, jitter
        self.version = ""
        self.relists = 0
        self.failures = 0
        self.problem: str | None = None  # the last error, while it lasts
        self._next_relist = 0.0

    def relist(self) -> None:
        items, version = self.api.list_pods(self.namespace, self.selector)
        self.view.replace(items, version)
        self.version = version
        self.relists += 1
        self._next_relist = self.clock() + self.resync
        self.on_change()

    def apply(self, event: WatchEvent) -> None:
        """One watch event; raises Gone for an ERROR event saying the version expired."""
        obj = event.object
        if event.type == "BOOKMARK":
            self.version = version_of(obj) or self.version
            return
        if event.type == "ERROR":
            code = int(obj.get("code") or 0)
            raise Gone(code or 410, str(obj.get("reason") or "Expired"), str(obj.get("message")))
        if event.type == "DELETED":
            self.view.remove(obj)
        elif not self.view.put(obj):
            return
        self.version = version_of(obj) or self.version
        if event.type == "DELETED" or self.matters(obj):
            self.on_change()

    def step(self, stop: threading.Event) -> bool:
        """Relist when due, then follow one watch request until it ends or a relist is due.
        False when the watch ended at once with nothing in it (the caller backs off: no busy
        loop against a server that closes watches); errors are the caller's (`run`)."""
        if not self.version or self.clock() >= self._next_relist:
            self.relist()
        timeout = max(1.0, min(self.watch_timeout, self._next_relist - self.clock()))
        began, seen = self.clock(), 0
        for event in self.api.watch_pods(self.namespace, self.selector, self.version, timeout):
            self.apply(event)
            seen += event.type != "BOOKMARK"
            if stop.is_set() or self.clock() >= self._next_relist:
                return True
        return bool(seen) or self.clock() - began >= QUICK

    def run(self, stop: threading.Event) -> None:
        """Until `stop`: watch, relisting on 410 Gone or after an error, with backoff."""
        while not stop.is_set():
            try:
                useful = self.step(stop)
                self.problem = None  # the API server answers
                if useful:
                    self.failures = 0
                else:
                    self.failures += 1
                    stop.wait(backoff(self.failures, self.jitter()))
            except Gone:
                self.version = ""  # relist at once: the version is too old to watch from
                self.failures += 1
                if self.failures > 1:  # a relist that is Gone again: do not spin
                    stop.wait(backoff(self.failures - 1, self.jitter()))
            except Exception as exc:  # noqa: BLE001 - an outage: back off and relist
                self.failures += 1
                self.version = ""
                if self.problem is None:
                    log.warning("watching pods in %s failed (%s); retrying", self.namespace, exc)
                self.problem = str(exc)
                stop.wait(backoff(self.failures, self.jitter()))
