"""How long pods take to start, and why they fail for infrastructure reasons, per team: what
the executor measures of each pod once, for the metrics (`brisa.metrics.instruments`:
`brisa_pods_pending_seconds`, `brisa_pod_start_seconds`, `brisa_infra_failures_total`).

The times are the API server's and the kubelet's (the pod's `creationTimestamp`, its
`PodScheduled` condition, its task container's `startedAt`), so they do not depend on when the
executor happened to see them. A pod is measured once per step; a step that happened before
this executor started (a pod adopted after a restart) is not measured again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from brisa.core.observations import Ending
from brisa.executor.kubernetes import naming
from brisa.executor.kubernetes.classify import finished_at, parse_time, task_container

Json = Mapping[str, Any]
INFRA = "infrastructure failure ("
REMEMBERED = 20_000  # pods whose steps are remembered, a bound on memory


class PodMetrics(Protocol):
    """Where the measures go (the process's metrics, or nowhere)."""

    def pod_pending(self, team: str, seconds: float) -> None:
        """A pod was placed on a node `seconds` after it was created."""

    def pod_started(self, team: str, seconds: float) -> None:
        """A pod's task container (the worker, or a container task's image) started `seconds`
        after the pod was created."""

    def infra_failure(self, team: str, reason: str) -> None:
        """An attempt's pod ended for a reason that is not the task's (`evicted`, ...)."""


class Unmeasured:
    def pod_pending(self, team: str, seconds: float) -> None:
        pass

    def pod_started(self, team: str, seconds: float) -> None:
        pass

    def infra_failure(self, team: str, reason: str) -> None:
        pass


def infra_reason(ending: Ending) -> str | None:
    """The short reason of an infrastructure ending (`evicted`, `node_lost`, ...), a label."""
    if not ending.infrastructure:
        return None
    text = ending.reason
    if text.startswith(INFRA) and ")" in text:
        return text[len(INFRA) : text.index(")")].replace(" ", "_")
    return "other"


def scheduled_at(pod: Json) -> datetime | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def started_at(pod: Json) -> datetime | None:
    """When the pod's task container started (it may have ended since)."""
    name = task_container(pod)
    for entry in (pod.get("status") or {}).get("containerStatuses") or ():
        if entry.get("name") == name:
            state = entry.get("state") or {}
            return parse_time((state.get("running") or state.get("terminated") or {}).get(
                "startedAt"
            ))  # fmt: skip
    return None


class PodTimes:
    """Measures each pod's steps once, from the pods the executor reads."""

    def __init__(self, sink: PodMetrics, since: datetime) -> None:
        self.sink, self.since = sink, since
        self._done: dict[str, set[str]] = {}  # pod uid → steps measured

    def saw(self, pod: Json, status: object) -> None:
        meta = pod["metadata"]
        done = self._steps(str(meta.get("uid") or meta["name"]))
        if len(done) == 3 or (len(done) == 2 and not isinstance(status, Ending)):
            return  # measured already (a pod waits through many passes)
        created = parse_time(meta.get("creationTimestamp"))
        team = str((meta.get("annotations") or {}).get(naming.TEAM, ""))
        if created is None:
            return
        for step, at, measure in (
            ("pending", scheduled_at(pod), self.sink.pod_pending),
            ("started", started_at(pod), self.sink.pod_started),
        ):
            if step not in done and at is not None:
                done.add(step)
                if at >= self.since:
                    measure(team, max(0.0, (at - created).total_seconds()))
        if isinstance(status, Ending) and "ended" not in done:
            done.add("ended")
            finished = finished_at(pod)
            if finished is None or finished >= self.since:
                self.failed(team, status)

    def failed(self, team: str, ending: Ending) -> None:
        reason = infra_reason(ending)
        if reason is not None:
            self.sink.infra_failure(team, reason)

    def forget(self, pod: Json) -> None:
        meta = pod["metadata"]
        self._done.pop(str(meta.get("uid") or meta["name"]), None)

    def _steps(self, uid: str) -> set[str]:
        if uid not in self._done and len(self._done) > REMEMBERED:
            self._done.clear()
        return self._done.setdefault(uid, set())
