"""The reconciled view of pods (`executor.kubernetes.reconcile`) against an API in memory:
whatever events are lost, repeated or cut off, the view ends equal to the server's pods."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from brisa.executor.kubernetes.api import Gone, Unreachable, WatchEvent
from brisa.executor.kubernetes.reconcile import PodView, Reconciler

Json = dict[str, Any]


class MemoryApi:
    """Pods with increasing resourceVersions and an event history; a watch replays what
    followed its version. Faults: `gone` (the version is too old), `drop` (the stream ends
    early), `down` (no answer), `repeat` (each event is sent twice)."""

    def __init__(self) -> None:
        self.version = 0
        self.pods: dict[str, Json] = {}
        self.history: list[tuple[int, WatchEvent]] = []
        self.gone = self.down = self.repeat = False
        self.drop_after: int | None = None
        self.lists = 0

    def _bump(self, kind: str, pod: Json) -> None:
        self.version += 1
        pod = {**pod, "metadata": {**pod["metadata"], "resourceVersion": str(self.version)}}
        if kind == "DELETED":
            self.pods.pop(pod["metadata"]["name"], None)
        else:
            self.pods[pod["metadata"]["name"]] = pod
        self.history.append((self.version, WatchEvent(kind, pod)))

    def create(self, name: str, phase: str = "Pending") -> None:
        self._bump("ADDED", {"metadata": {"name": name}, "status": {"phase": phase}})

    def update(self, name: str, phase: str) -> None:
        pod = self.pods[name]
        self._bump("MODIFIED", {**pod, "status": {"phase": phase}})

    def delete(self, name: str) -> None:
        self._bump("DELETED", self.pods[name])

    def list_pods(self, namespace: str, selector: str) -> tuple[list[Json], str]:
        if self.down:
            raise Unreachable(0, "Unreachable", "connection refused")
        self.lists += 1
        return list(self.pods.values()), str(self.version)

    def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> Iterator[WatchEvent]:
        if self.down:
            raise Unreachable(0, "Unreachable", "connection refused")
        if self.gone:
            self.gone = False
            raise Gone(410, "Expired", "too old resource version")
        sent = 0
        for version, event in list(self.history):
            if version > int(resource_version or 0):
                if self.drop_after is not None and sent >= self.drop_after:
                    raise OSError("stream dropped")
                yield event
                if self.repeat:
                    yield event
                sent += 1
        yield WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": str(self.version)}})


def names_and_phases(view: PodView) -> dict[str, str]:
    return {p["metadata"]["name"]: p["status"]["phase"] for p in view.pods()}


def truth(api: MemoryApi) -> dict[str, str]:
    return {n: p["status"]["phase"] for n, p in api.pods.items()}


def reconciler(api: MemoryApi, vanished: list[str] | None = None) -> Reconciler:
    seen = vanished if vanished is not None else []
    view = PodView(lambda pod: seen.append(pod["metadata"]["name"]))
    return Reconciler(api, "ns", "app=brisa", view, resync=1e9, jitter=lambda: 0.0)


def test_a_watch_from_the_list_brings_the_view_up_to_date() -> None:
    api = MemoryApi()
    api.create("a")
    rec = reconciler(api)
    rec.step(threading.Event())
    api.create("b")
    api.update("a", "Running")
    rec.step(threading.Event())
    assert names_and_phases(rec.view) == {"a": "Running", "b": "Pending"}
    assert api.lists == 1  # one list; the rest came from the watch


def test_a_repeated_or_stale_event_changes_nothing() -> None:
    api = MemoryApi()
    api.create("a")
    api.update("a", "Running")
    api.update("a", "Succeeded")
    rec = reconciler(api)
    rec.relist()
    for _, event in api.history:  # replayed from the start: all older than the view
        rec.apply(event)
    assert names_and_phases(rec.view) == {"a": "Succeeded"}


def test_410_gone_relists_and_a_pod_deleted_meanwhile_is_reported_once() -> None:
    api = MemoryApi()
    api.create("a")
    api.create("b")
    vanished: list[str] = []
    rec = reconciler(api, vanished)
    rec.step(threading.Event())
    api.delete("a")
    api.history.clear()  # the server forgot the events: only a relist can tell
    api.gone = True
    with pytest.raises(Gone):
        rec.step(threading.Event())
    rec.version = ""
    rec.step(threading.Event())
    assert names_and_phases(rec.view) == {"b": "Pending"}
    assert vanished == ["a"]


def test_a_pod_created_after_the_list_is_kept_by_a_relist_that_predates_it() -> None:
    api = MemoryApi()
    rec = reconciler(api)
    items, version = api.list_pods("ns", "")
    api.create("a")  # the executor's own create: put from its answer
    rec.view.put(api.pods["a"])
    rec.view.replace(items, version)  # a list taken before the create lands after it
    assert names_and_phases(rec.view) == {"a": "Pending"}


def test_a_create_answered_after_its_pod_was_deleted_does_not_bring_the_pod_back() -> None:
    # The executor puts the pod from its create's answer from another thread; the watch may
    # have seen the pod created and deleted (by someone else) before that answer is handled.
    api = MemoryApi()
    vanished: list[str] = []
    rec = reconciler(api, vanished)
    rec.step(threading.Event())
    api.create("a")
    answer = dict(api.pods["a"])
    api.delete("a")
    rec.step(threading.Event())
    assert vanished == ["a"]
    assert not rec.view.put(answer)  # late: the pod it describes is gone
    assert names_and_phases(rec.view) == {}
    api.create("a")  # a new pod of the same name (a relaunch) is a new pod
    assert rec.view.put(api.pods["a"])
    assert names_and_phases(rec.view) == {"a": "Pending"}
    rec.relist()  # and the same holds for a pod a relist found gone
    api.delete("a")
    stale = rec.view.get("a")
    assert stale is not None
    rec.relist()
    assert not rec.view.put(stale) and names_and_phases(rec.view) == {}


def test_run_backs_off_while_the_api_is_down_and_catches_up_after() -> None:
    api = MemoryApi()
    api.create("a")
    api.down = True
    rec = reconciler(api)
    stop = threading.Event()
    waits: list[float] = []

    def wait(seconds: float | None = None) -> bool:
        waits.append(seconds or 0.0)
        if len(waits) == 3:
            api.down = False
        if len(waits) > 3:
            stop.set()
        return stop.is_set()

    stop.wait = wait  # type: ignore[method-assign]
    rec.run(stop)
    assert waits[:3] == sorted(waits[:3]) and waits[0] > 0  # growing, never zero: no hot loop
    assert names_and_phases(rec.view) == {"a": "Pending"}
    assert rec.problem is None


@pytest.mark.parametrize("seed", range(40))
def test_randomized_faults_end_with_the_servers_pods(seed: int) -> None:
    """Creates, updates and deletes with 410s, dropped streams and repeated events in between:
    after each pass the view equals the server, and a vanished pod is one the server deleted."""
    rng = random.Random(seed)
    api = MemoryApi()
    vanished: list[str] = []
    rec = reconciler(api, vanished)
    deleted: set[str] = set()
    for n in range(30):
        action = rng.random()
        live = sorted(api.pods)
        if action < 0.4 or not live:
            api.create(f"p{n}")
        elif action < 0.8:
            api.update(rng.choice(live), rng.choice(["Running", "Succeeded", "Failed"]))
        else:
            victim = rng.choice(live)
            api.delete(victim)
            deleted.add(victim)
        api.gone = rng.random() < 0.15
        api.drop_after = rng.choice([None, None, 0, 1])
        api.repeat = rng.random() < 0.3
        if rng.random() < 0.2:
            api.history.clear()  # compacted: only a relist knows
            api.gone = True
        for _ in range(3):  # the loop's passes, with its recovery
            try:
                rec.step(threading.Event())
            except Gone:
                rec.version = ""
            except OSError:
                rec.version = ""
            api.drop_after = None
            api.gone = False
    rec.step(threading.Event())
    assert names_and_phases(rec.view) == truth(api)
    assert set(vanished) <= deleted
    assert len(vanished) == len(set(vanished))
