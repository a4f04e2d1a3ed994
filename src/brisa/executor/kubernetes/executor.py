"""The Kubernetes executor: one bare pod per attempt (docs/kubernetes.md, ADR 0018).

- `launch` creates the attempt's pod under its deterministic name (a 409 means "it is
  mine": never a second pod for one try). A relaunch creates nothing unless this executor saw
  its create refused: the pod is adopted if the API server has it, else the attempt ends as
  an infrastructure failure (ADR 0040). Its worker gets its token from the execution API
  for the pod's projected service account token (ADR 0029): no Secret, no `secrets` verb.
- `alive` and `observe` read the reconciled view of the API server (`reconcile.py`), rebuilt
  by listing on start: never from bookkeeping a restart can lose. What each pod means is
  `classify.py`'s decision.
- `kill` deletes the pod; `release` (the attempt's outcome is stored) deletes it per the
  deletion policy, once its log is complete: a container task's output is followed from
  `pods/log` while it runs, a worker pod that died before its last chunk is completed from
  it (`podlogs.py`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from brisa.core.observations import Ending, Observed, Waiting
from brisa.core.records import AttemptRef
from brisa.errors import InvalidInput
from brisa.executor.base import Attempt, LaunchRequest
from brisa.executor.kubernetes import api as kube
from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.access import (
    START_TRIES,
    ApiUnreachable,
    ExecutorUnavailable,
    check_namespace,
)
from brisa.executor.kubernetes.classify import (
    KIND,
    Rules,
    Running,
    classify,
    has_ended,
    needs_events,
    wakes,
)
from brisa.executor.kubernetes.holder import (
    COLLECT_EVERY,
    ORPHAN_GRACE,
    Duties,
    PodLogs,
    SoleHolder,
    delete_now,
    orphans,
)
from brisa.executor.kubernetes.launching import (
    create_or_adopt,
    lost_pod,
    manifest_for,
    relaunch_delay,
)
from brisa.executor.kubernetes.manifest import PodConfig
from brisa.executor.kubernetes.podtimes import PodMetrics, PodTimes, Unmeasured
from brisa.executor.kubernetes.reconcile import RESYNC, PodView, Reconciler
from brisa.logs.config import ShippingConfig

log = logging.getLogger("brisa.kubernetes")

Json = dict[str, Any]
EVENTS_EVERY = 2.0  # seconds between reads of one pending pod's events
LAUNCHERS = 8  # creates in flight at once
MEANINGS = 10_000  # pods' meanings kept (running or ended pods), a bound on memory
DELETE_POLICIES = ("on_success", "always", "never")


@dataclass(frozen=True)
class KubeConfig:
    """What the executor needs, resolved from `[kubernetes]` by the composition root."""

    deployment: str
    pod_config: Callable[[str], PodConfig]  # of a team
    namespaces: tuple[str, ...]  # watched from the start (every team's)
    worker_env: Mapping[str, str] = field(default_factory=dict)
    parallelism: int = 32
    pending_timeout: float = 600.0
    team_pending_timeouts: Mapping[str, float] = field(default_factory=dict)  # over it
    delete_pods: str = "on_success"  # on_success | always | never
    keep_failed_for: float = 0.0  # seconds a failed pod is kept (on_success)
    kill_grace: int = 10
    scope: str = ""
    logs: ShippingConfig = field(default_factory=ShippingConfig)
    spool_folder: Path = Path("spool")
    resync: float = RESYNC
    orphan_grace: float = ORPHAN_GRACE  # a pod of no task instance is deleted after it


@dataclass
class _Pod:
    namespace: str
    json: Json
    ref: AttemptRef
    status: Running | Waiting | Ending
    container_task: bool

    @property
    def name(self) -> str:
        return str(self.json["metadata"]["name"])


class KubernetesExecutor:
    def __init__(
        self,
        api: kube.KubeApi,
        config: KubeConfig,
        *,
        on_change: Callable[[], None] = lambda: None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: PodMetrics | None = None,
    ) -> None:
        self.api, self.config = api, config
        self.parallelism = config.parallelism
        self.on_change, self.wall = on_change, wall
        self.selector = naming.selector_for(config.deployment)
        self._views: dict[str, PodView] = {}
        self._reconcilers: dict[str, Reconciler] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._deleting: set[str] = set()  # pods this executor deleted
        self._gone: dict[AttemptRef, Ending] = {}  # pods that vanished, with why
        self._refused: dict[AttemptRef, Waiting] = {}  # launches the API server refused
        self._refusals: dict[AttemptRef, int] = {}  # ... how many times in a row
        self._events: dict[str, tuple[float, list[Json]]] = {}
        self._logs = PodLogs(api, config.logs, config.spool_folder)
        # What the holder of a namespace's lease does there (ADR 0028); alone, every one.
        self.duties: Duties = SoleHolder()
        self._held: set[str] = set()  # namespaces whose lease was held at the last look
        self._collected: dict[str, float] = {}  # namespace -> when orphans were looked for
        self._launching: set[AttemptRef] = set()  # creates sent, not answered yet
        self._meanings: dict[tuple[str, str, bool], Running | Ending] = {}
        self._killed_launching: set[AttemptRef] = set()
        self._pool = ThreadPoolExecutor(LAUNCHERS, thread_name_prefix="pod-create")
        self._times = PodTimes(metrics or Unmeasured(), wall())

    # --- start-up ---------------------------------------------------------------------------
    def start(self) -> KubernetesExecutor:
        """Check access to every namespace and list its pods: a clear error now (no API
        server, no permission, no namespace) rather than a failure per attempt."""
        for namespace in self.config.namespaces:
            self._watch(namespace)
        return self

    def _watch(self, namespace: str, tries: int = START_TRIES) -> PodView:
        view = self._views.get(namespace)
        if view is not None:
            return view
        check_namespace(self.api, namespace, tries)
        view = PodView(lambda pod: self._vanished(namespace, pod))
        reconciler = Reconciler(
            self.api, namespace, self.selector, view, on_change=self.on_change, matters=wakes,
            resync=self.config.resync,
        )  # fmt: skip
        reconciler.relist()
        self._views[namespace], self._reconcilers[namespace] = view, reconciler
        thread = threading.Thread(
            target=reconciler.run, args=(self._stop,), name=f"pods-{namespace}", daemon=True
        )
        thread.start()
        return view

    # --- the port ---------------------------------------------------------------------------
    def launch(self, request: LaunchRequest) -> None:
        attempt = request.attempt
        if attempt is None:
            raise ValueError("the Kubernetes executor needs the attempt (describe_attempts)")
        ref = request.ref
        config = self.config.pod_config(attempt.team)
        try:  # a team first seen now: its namespace is checked now, once (no pass waits)
            view = self._watch(config.namespace, tries=1)
        except ApiUnreachable as exc:
            self._refuse(ref, "Unreachable", str(exc))  # launched again, later each time
            return
        except ExecutorUnavailable as exc:  # this attempt fails (its retries apply), not the pass
            self._gone[ref] = Ending(False, str(exc))
            return
        name = naming.pod_name(attempt.team, ref.ti_id, ref.try_number)
        existing = view.get(name)
        if ref in self._launching or (existing is not None and not has_ended(existing)):
            return  # launched already (maybe before a restart): it is mine
        if request.relaunch and ref not in self._refusals:  # never a second pod (ADR 0040)
            if existing is None:  # an ended one tells its own ending (`observe`)
                find = partial(self._find, config.namespace, name, ref, view, attempt.team)
                self._start_sending(ref, find)
            return
        if existing is not None:  # a pod of an earlier database's attempt: replaced
            self._delete(config.namespace, name, 0)
        try:
            manifest = manifest_for(
                attempt, ref, config, deployment=self.config.deployment,
                worker_env=self.config.worker_env, scope=self.config.scope,
            )  # fmt: skip
        except InvalidInput as exc:
            self._gone[ref] = Ending(False, f"the attempt's pod cannot be built: {exc}")
            return
        # The launch's token is not handed on: the pod's worker exchanges its own (ADR 0029).
        send = partial(self._send, config.namespace, manifest, ref, view, request.fence)
        self._start_sending(ref, send)

    def _start_sending(self, ref: AttemptRef, send: Callable[[], None]) -> None:
        """Ask about the attempt's pod from a small pool: the scheduler goes on queueing, and
        round trips overlap. Until it is answered the attempt counts as alive."""
        with self._lock:
            self._launching.add(ref)
        self._pool.submit(self._answered, ref, send)

    def _send(
        self, namespace: str, manifest: Json, ref: AttemptRef, view: PodView, fence: object
    ) -> None:
        if fence is not None and not self.duties.may_launch(fence):  # frozen, say (ADR 0040)
            self._refuse(ref, "Fenced", "this scheduler's lease was not renewed in time")
            return
        pod = self._create(namespace, manifest, ref)
        if pod is not None:
            with self._lock:
                self._deleting.discard(pod["metadata"]["name"])  # a replaced pod's name
            view.put(pod)

    def _find(self, namespace: str, name: str, ref: AttemptRef, view: PodView, team: str) -> None:
        """A relaunch: the pod is adopted if the API server has it, else lost (`lost_pod`)."""
        try:
            pod = self.api.get_pod(namespace, name)
        except kube.KubeError as exc:  # looked for again at the next relaunch, a while later
            now = self.wall()
            again = now + timedelta(seconds=relaunch_delay(1, ref))
            self._refused[ref] = Waiting(exc.reason or "Unreachable", exc.message, now, again)
            return
        if pod is None:
            self._gone[ref] = lost = lost_pod(name)
            self._times.failed(team, lost)  # infra_failures_total{reason="pod_lost"}
        else:
            view.put(pod)

    def _answered(self, ref: AttemptRef, send: Callable[[], None]) -> None:
        try:
            send()
        except Exception:  # a bug must not leave the attempt launching for ever
            log.exception("launching %s failed", ref)
        finally:
            with self._lock:
                self._launching.discard(ref)
                killed = ref in self._killed_launching
                self._killed_launching.discard(ref)
            if killed:  # killed while its create was in flight
                self.kill(ref)

    def _create(self, namespace: str, manifest: Json, ref: AttemptRef) -> Json | None:
        name = manifest["metadata"]["name"]
        try:
            pod = create_or_adopt(self.api, namespace, manifest)
        except kube.KubeError as exc:
            # A quota (403), an outage: stays queued with the reason; the scheduler launches
            # it again, later each time (`relaunch_delay`). It does not count as a try.
            self._refuse(ref, exc.reason or "Refused", exc.message)
            return None
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            self._refused[ref] = Waiting(
                "Replacing", f"pod {name} of an earlier launch is being deleted", self.wall()
            )
            return None
        self._refused.pop(ref, None)
        self._refusals.pop(ref, None)
        return pod

    def _refuse(self, ref: AttemptRef, reason: str, message: str) -> None:
        """The attempt could not be launched now: it waits, with the reason, until a delay
        that grows with each refusal in a row is over (`Waiting.retry_at`)."""
        refusals = self._refusals[ref] = self._refusals.get(ref, 0) + 1
        delay, now = relaunch_delay(refusals, ref), self.wall()
        times = "once" if refusals == 1 else f"{refusals} times in a row"
        note = f"{message} (create refused {times}; tried again in {delay:.0f}s)"
        self._refused[ref] = Waiting(reason, note, now, now + timedelta(seconds=delay))

    def kill(self, ref: AttemptRef) -> None:
        with self._lock:
            if ref in self._launching:
                self._killed_launching.add(ref)
        for pod in self._pods():
            if pod.ref == ref:
                self._delete(pod.namespace, pod.name, self.config.kill_grace)

    def _delete(self, namespace: str, name: str, grace: int | None = None) -> None:
        with self._lock:
            self._deleting.add(name)
        try:
            self.api.delete_pod(namespace, name, grace)
        except kube.NotFound:
            pass
        except kube.KubeError as exc:  # tried again on the next kill or release
            log.warning("could not delete pod %s: %s", name, exc)

    def alive(self) -> frozenset[AttemptRef]:
        with self._lock:
            launching = set(self._launching)
        live = {p.ref for p in self._pods() if not isinstance(p.status, Ending)}
        return frozenset(live | launching)

    def observe(self) -> Observed:
        endings: dict[AttemptRef, Ending] = dict(self._gone)
        waiting: dict[AttemptRef, Waiting] = dict(self._refused)
        supervised: dict[AttemptRef, str] = {}
        held = self._duties()
        for pod in self._pods():
            status = pod.status
            if isinstance(status, Ending):
                endings[pod.ref] = replace(status, final=pod.container_task)
                waiting.pop(pod.ref, None)
            elif isinstance(status, Waiting):
                waiting[pod.ref] = status
            elif pod.container_task:
                supervised[pod.ref] = status.node
            if pod.container_task and not isinstance(status, Waiting) and pod.namespace in held:
                view = self._views[pod.namespace]
                finished = partial(_ended_in, view, pod.name)
                keep = partial(self.duties.holds, pod.namespace)
                self._logs.follow(pod.namespace, pod.json, pod.ref.try_number, finished, keep)
        return Observed(endings=endings, waiting=waiting, supervised=supervised)

    def release(self, ref: AttemptRef) -> None:
        self._gone.pop(ref, None)
        self._refused.pop(ref, None)
        self._refusals.pop(ref, None)
        for pod in self._pods():
            if pod.ref != ref or pod.name in self._deleting or pod.namespace not in self._held:
                continue  # another scheduler's executor holds its namespace: it deletes it
            if not self._log_complete(pod):
                continue
            policy, keep = self.config.delete_pods, self.config.keep_failed_for
            if delete_now(policy, pod.status, pod.json, keep, self.wall()):
                self._delete(pod.namespace, pod.name)

    def close(self) -> None:
        self._stop.set()  # the pods are left to run: a new executor adopts them
        for namespace in list(self._views):  # before the leases go: no second follower
            self._logs.abandon(namespace)
        self._pool.shutdown(wait=True)  # creates already sent are answered

    # --- the view ---------------------------------------------------------------------------
    def _pods(self) -> list[_Pod]:
        now = self.wall()
        found = []
        for namespace, view in list(self._views.items()):
            for json in view.pods():
                ref = naming.attempt_from_labels(json["metadata"].get("labels") or {})
                if ref is not None:
                    found.append(self._read(namespace, json, ref, now))
        return found

    def _read(self, namespace: str, json: Json, ref: AttemptRef, now: datetime) -> _Pod:
        meta = json["metadata"]
        annotations = meta.get("annotations") or {}
        container_task = annotations.get(KIND) == "container"
        # A running or ended pod means the same until it changes (a new resourceVersion):
        # only a waiting pod's meaning moves with time (its pending timeout).
        key = (meta["name"], str(meta.get("resourceVersion")), meta["name"] in self._deleting)
        known = self._meanings.get(key)
        if known is not None:
            return _Pod(namespace, json, ref, known, container_task)
        team = str(annotations.get(naming.TEAM, ""))
        timeout = self.config.team_pending_timeouts.get(team, self.config.pending_timeout)
        rules = Rules(
            pending_timeout=timeout,
            container=annotations.get(naming.CONTAINER, "base"),
            deleting=meta["name"] in self._deleting,
        )
        status = classify(json, self._events_of(namespace, json), now, rules)
        self._times.saw(json, status)
        if not isinstance(status, Waiting):
            if len(self._meanings) > MEANINGS:
                self._meanings.clear()
            self._meanings[key] = status
        return _Pod(namespace, json, ref, status, container_task)

    def _events_of(self, namespace: str, pod: Json) -> list[Json]:
        """A pending pod's events, when its status alone does not tell (image pulls counted,
        a scheduler message); read at most every EVENTS_EVERY seconds per pod."""
        if not needs_events(pod):
            return []
        name = pod["metadata"]["name"]
        read_at, events = self._events.get(name, (0.0, []))
        if time.monotonic() - read_at >= EVENTS_EVERY:
            with contextlib.suppress(kube.KubeError):
                events = self.api.pod_events(namespace, name)
            self._events[name] = (time.monotonic(), events)
        return events

    def _vanished(self, namespace: str, pod: Json) -> None:
        """A pod left the view: deleted by this executor, or by someone else."""
        name = pod["metadata"]["name"]
        self._events.pop(name, None)
        self._logs.vanished(name)
        with self._lock:
            ours = name in self._deleting
            self._deleting.discard(name)
        ref = naming.attempt_from_labels(pod["metadata"].get("labels") or {})
        if ours or ref is None:
            self._times.forget(pod)
            return
        status = self._read(namespace, pod, ref, self.wall()).status
        self._times.forget(pod)
        container_task = (pod["metadata"].get("annotations") or {}).get(KIND) == "container"
        if isinstance(status, Ending):
            # Kept as it ended, until its outcome is stored; a container's exit is the outcome
            # whether or not someone deleted its pod since (as `observe` says of a live pod).
            self._gone[ref] = replace(status, final=container_task)
            return
        self._gone[ref] = gone = Ending(
            False,
            f"infrastructure failure (pod deleted by someone else): pod {name} was deleted "
            "before its attempt ended",
            infrastructure=True,
            final=container_task,
        )
        self._times.failed(str((pod["metadata"].get("annotations") or {}).get(naming.TEAM)), gone)

    # --- the namespaces this executor holds (ADR 0028) ---------------------------------------
    def share(self, duties: Duties) -> None:
        """Look after a namespace only while `duties` says this scheduler holds its lease."""
        self.duties = duties

    def namespaces(self) -> list[str]:
        """The namespaces watched now (their leases are the ones to hold)."""
        return sorted(self._views)

    def _duties(self) -> set[str]:
        """The namespaces held now. One newly held is listed again (adopting every pod there
        from the API server, not from what the previous holder knew); one lost has its log
        followers stopped at once. The holder collects orphans now and then."""
        held = {ns for ns in list(self._views) if self.duties.holds(ns)}
        for namespace in sorted(held - self._held):
            log.info("holding namespace %s: adopting its pods", namespace)
            with contextlib.suppress(kube.KubeError):
                self._reconcilers[namespace].relist()
        for namespace in sorted(self._held - held):
            log.warning(
                "namespace %s is no longer held: its logs are left to the holder", namespace
            )
            self._logs.abandon(namespace)
        self._held = held
        for namespace in sorted(held):
            last = self._collected.get(namespace)
            if last is None or time.monotonic() - last >= COLLECT_EVERY:
                self._collected[namespace] = time.monotonic()
                self._collect(namespace)
        return held

    def _collect(self, namespace: str) -> None:
        """Delete the pods of no task instance at all, past the grace period."""
        pods, now = self._views[namespace].pods(), self.wall()
        for name in orphans(pods, self.duties.known, now, self.config.orphan_grace):
            log.warning("deleting orphan pod %s: its task instance is not in the database", name)
            self._delete(namespace, name, self.config.kill_grace)

    def _log_complete(self, pod: _Pod) -> bool:
        """Whether the pod's log is all in the store (so the pod may go)."""
        if pod.container_task:
            return self._logs.container_complete(pod.name)
        if not isinstance(pod.status, Ending):
            return True
        return self._logs.worker_complete(pod.namespace, pod.json, pod.ref.try_number)


def _ended_in(view: PodView, name: str) -> bool:
    return has_ended(view.get(name))


__all__ = ["Attempt", "ExecutorUnavailable", "KubeConfig", "KubernetesExecutor"]
