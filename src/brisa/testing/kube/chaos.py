"""K3's randomized check: the executor's reconciler (`executor.kubernetes.reconcile`) against the
fake API server over real HTTP, while a seeded random actor creates, changes and deletes pods
and the network misbehaves (410 Gone on the next watch, every watch dropped, every event sent
twice, the history compacted so that a reconnect is too old). The run passes when, once the
actor stops, the reconciler's view equals the server's pods (name → resourceVersion) and every
pod it reported vanished is one the actor deleted, once. No resync helps it: the full relist
timer is off, so only the 410 and error paths bring it back.

Used by the test (`tests/integration/test_kube_chaos.py`, a few seeds) and the benchmark
(`bench/kube.py`, 1,000 runs and the recovery time after a 410).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from brisa.executor.kubernetes.api import KubeApi
from brisa.executor.kubernetes.reconcile import PodView, Reconciler
from brisa.testing.kube.cluster import FakeCluster
from brisa.testing.kube.faults import Unschedulable
from brisa.testing.kube.objects import default_pod

Json = dict[str, Any]
LABEL = "chaos.brisa.dev/run"
FAULTS = ("gone", "drop", "duplicate", "compact")


@dataclass
class ChaosRun:
    seed: int
    converged: bool = False
    mismatch: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    wrongly_vanished: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # from the actor's last change to a view equal to the server's

    @property
    def ok(self) -> bool:
        return self.converged and not self.wrongly_vanished


def _pod(name: str, run: str, namespace: str) -> Json:
    """A pod as the API server stores it after a create (defaults and status filled in)."""
    pod: Json = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {LABEL: run}},
        "spec": {"containers": [{"name": "base", "image": "busybox:1.36"}]},
    }
    default_pod(pod, namespace)
    return pod


def _versions(pods: list[Json]) -> dict[str, str]:
    return {p["metadata"]["name"]: str(p["metadata"]["resourceVersion"]) for p in pods}


class Watched:
    """A reconciler of `namespace`'s pods of one run, in its own thread, as the executor runs it
    (no timed full resync)."""

    def __init__(self, api: KubeApi, namespace: str, selector: str) -> None:
        self.vanished: list[str] = []
        self.view = PodView(lambda pod: self.vanished.append(pod["metadata"]["name"]))
        self.reconciler = Reconciler(api, namespace, selector, self.view, resync=1e9)
        self.reconciler.relist()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.reconciler.run, args=(self._stop,))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def chaos_run(
    cluster: FakeCluster,
    api: KubeApi,
    namespace: str,
    seed: int,
    *,
    steps: int = 25,
    settle: float = 30.0,
) -> ChaosRun:
    """One seeded run in `namespace` (pods labelled with the seed, kept Pending by the fake
    kubelet): `steps` random changes and faults, then up to `settle` seconds for the view to
    equal the server's pods."""
    rng = random.Random(seed)
    actor = _Actor(cluster, namespace, f"r{seed}", seed)
    result = ChaosRun(seed)
    cluster.inject(Unschedulable(), actor.selector)  # no process per pod: it stays Pending
    watched = Watched(api, namespace, actor.selector)
    try:
        for step in range(steps):
            actor.change(rng, step)
            fault = rng.choice((*FAULTS, None, None))
            if fault is not None:
                result.faults[fault] += 1
            _inject(cluster, fault, rng)
            time.sleep(rng.uniform(0, 0.03))
        cluster.api.duplicate_events = False
        _settle(cluster, namespace, actor, watched, result, settle)
    finally:
        watched.stop()
        actor.clean()
    counts = Counter(watched.vanished)
    result.wrongly_vanished = sorted(
        n for n, c in counts.items() if c > 1 or (n not in actor.deleted and n in actor.created)
    )
    return result


class _Actor:
    """The ground truth's author: creates, changes and deletes the run's pods at random."""

    def __init__(self, cluster: FakeCluster, namespace: str, run: str, seed: int) -> None:
        self.cluster, self.namespace, self.run, self.seed = cluster, namespace, run, seed
        self.selector = f"{LABEL}={run}"
        self.created: list[str] = []
        self.deleted: set[str] = set()

    def change(self, rng: random.Random, step: int) -> None:
        state = self.cluster.state
        live = [n for n in self.created if n not in self.deleted]
        action = rng.random()
        if action < 0.45 or not live:
            name = f"chaos-{self.seed}-{step}"
            state.create("pods", self.namespace, _pod(name, self.run, self.namespace))
            self.created.append(name)
        elif action < 0.75:
            notes = {"chaos.brisa.dev/step": str(step)}
            state.update(
                "pods", self.namespace, rng.choice(live),
                lambda pod: pod["metadata"].setdefault("annotations", {}).update(notes),
            )  # fmt: skip
        else:
            victim = rng.choice(live)
            state.remove("pods", self.namespace, victim)
            self.deleted.add(victim)

    def truth(self) -> dict[str, str]:
        return _versions(self.cluster.state.list("pods", self.namespace, _labelled(self.run))[0])

    def clean(self) -> None:
        for name in self.created:
            if name not in self.deleted:
                self.cluster.state.remove("pods", self.namespace, name)


def _inject(cluster: FakeCluster, fault: str | None, rng: random.Random) -> None:
    server = cluster.api
    if fault == "gone":  # the reconnect is answered 410 Gone
        server.expire_next_watch()
        server.drop_watches()
    elif fault == "drop":
        server.drop_watches()
    elif fault == "compact":  # the reconnect's version is older than the history
        cluster.state.compact()
        server.drop_watches()
    server.duplicate_events = fault == "duplicate" or rng.random() < 0.2


def _settle(
    cluster: FakeCluster,
    namespace: str,
    actor: _Actor,
    watched: Watched,
    result: ChaosRun,
    settle: float,
) -> None:
    began = time.monotonic()
    while True:
        truth, seen = actor.truth(), _versions(watched.view.pods())
        if truth == seen:
            result.converged, result.seconds = True, time.monotonic() - began
            return
        if time.monotonic() - began > settle:
            names = set(truth) | set(seen)
            result.mismatch = {
                n: (truth.get(n), seen.get(n)) for n in names if truth.get(n) != seen.get(n)
            }
            return
        time.sleep(0.02)


def _labelled(run: str) -> Any:
    return lambda pod: (pod["metadata"].get("labels") or {}).get(LABEL) == run


def recovery_after_gone(cluster: FakeCluster, api: KubeApi, namespace: str, tag: str) -> float:
    """Seconds from a 410 Gone (the watch dropped, its reconnect answered 410, the history
    compacted) and a change made at that moment, to the reconciler's view showing the change."""
    run = f"gone-{tag}"
    cluster.inject(Unschedulable(), f"{LABEL}={run}")
    watched = Watched(api, namespace, f"{LABEL}={run}")
    name = f"after-gone-{tag}"
    try:
        time.sleep(0.1)  # the watch is open
        cluster.state.compact()
        cluster.api.expire_next_watch()
        began = time.monotonic()
        cluster.api.drop_watches()
        cluster.state.create("pods", namespace, _pod(name, run, namespace))
        while watched.view.get(name) is None:
            time.sleep(0.005)
            if time.monotonic() - began > 60:
                raise TimeoutError("the reconciler did not recover from a 410 within 60 s")
        return time.monotonic() - began
    finally:
        watched.stop()
        cluster.state.remove("pods", namespace, name)
