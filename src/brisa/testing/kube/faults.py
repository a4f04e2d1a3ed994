"""What the fake kubelet can make happen to a pod, and which pods it happens to.

A test injects a fault for the pods a label selector (or a predicate over the pod JSON)
matches, for a number of pods or for all of them: `cluster.inject(OomKilled(), where="task=a",
times=1)`. A pod created by hand (kubectl) can ask for one with the annotation
`fake.brisa.dev/fault`: `oom`, `evicted`, `unschedulable`, `image-pull`, `node-lost`,
`deleted`, or `slow-start:SECONDS`; `oom`, `evicted`, `node-lost` and `deleted` take
`:SECONDS` after the container started too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from brisa.testing.kube.objects import Json
from brisa.testing.kube.selectors import label_selector

ANNOTATION = "fake.brisa.dev/fault"

UNSCHEDULABLE = (
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available:"
    " 3 No preemption victims found for incoming pod."
)
EVICTION = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki."


@dataclass(frozen=True)
class Unschedulable:
    """Pending for ever: `PodScheduled` False (`Unschedulable`) and a FailedScheduling event."""

    message: str = UNSCHEDULABLE


@dataclass(frozen=True)
class ImagePullError:
    """Scheduled, then ErrImagePull and ImagePullBackOff in turn, with their events."""

    message: str = "pull access denied, repository does not exist or may require authorization"


@dataclass(frozen=True)
class OomKilled:
    """The container runs, and `after` seconds later the kernel kills it: exit 137,
    reason OOMKilled, phase Failed."""

    after: float = 0.0


@dataclass(frozen=True)
class Evicted:
    """The container runs, then the kubelet evicts the pod: phase Failed, reason Evicted, a
    DisruptionTarget condition and an Evicted event."""

    after: float = 0.0
    message: str = EVICTION


@dataclass(frozen=True)
class NodeLost:
    """The node stops answering `after` seconds into the run: the process dies with it, the
    pod still says Running for `grace` seconds, then the node controller marks it not ready
    and deletes it (`delete`), or marks it Failed with reason NodeLost."""

    after: float = 0.0
    grace: float = 0.3
    delete: bool = True


@dataclass(frozen=True)
class SlowStart:
    """The container is created `delay` seconds late (ContainerCreating meanwhile)."""

    delay: float = 1.0


@dataclass(frozen=True)
class DeletedByOther:
    """Someone deletes the pod (graceful delete) `after` seconds into the run."""

    after: float = 0.0


Fault = Unschedulable | ImagePullError | OomKilled | Evicted | NodeLost | SlowStart | DeletedByOther

_BY_NAME: dict[str, Callable[[float | None], Fault]] = {
    "unschedulable": lambda _s: Unschedulable(),
    "image-pull": lambda _s: ImagePullError(),
    "oom": lambda s: OomKilled(after=s or 0.0),
    "evicted": lambda s: Evicted(after=s or 0.0),
    "node-lost": lambda s: NodeLost(after=s or 0.0),
    "slow-start": lambda s: SlowStart(delay=1.0 if s is None else s),
    "deleted": lambda s: DeletedByOther(after=s or 0.0),
}


def fault_from_annotation(text: str) -> Fault | None:
    name, _, seconds = text.partition(":")
    make = _BY_NAME.get(name.strip())
    return make(float(seconds) if seconds else None) if make else None


@dataclass
class _Rule:
    matches: Callable[[Json], bool]
    fault: Fault
    times: int | None


class FaultTable:
    """The rules a test set, first match wins; a rule with `times` is used up after that many
    pods."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def add(
        self, fault: Fault, where: str | Callable[[Json], bool] = "", times: int | None = None
    ) -> None:
        if isinstance(where, str):
            selector = label_selector(where)
            matches: Callable[[Json], bool] = lambda pod: selector(  # noqa: E731
                pod["metadata"].get("labels") or {}
            )
        else:
            matches = where
        with self._lock:
            self._rules.append(_Rule(matches, fault, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, pod: Json) -> Fault | None:
        """The fault for a new pod: its annotation, else the first rule that matches."""
        annotation = (pod["metadata"].get("annotations") or {}).get(ANNOTATION)
        if annotation:
            return fault_from_annotation(annotation)
        with self._lock:
            for rule in self._rules:
                if rule.times != 0 and rule.matches(pod):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
        return None
