"""What an executor sees of its attempts beyond "alive": why one waits, that one's own
container runs, how one ended. Plain records for the planner; no I/O.

The local executor sees nothing more than its process table (an empty `Observed`); the
Kubernetes executor reads pods: a pod Pending for a reason, a container task's container
running (no worker tells the execution API it started), a pod that ended and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from brisa.core.records import AttemptRef


@dataclass(frozen=True)
class Ending:
    """How an attempt's worker (or container) ended, as the executor saw it.

    `final`: the ending IS the attempt's outcome (a container task: its exit code); otherwise
    the worker's own report is authoritative and the ending only says why a worker that did
    not report is gone. `infrastructure`: not the task's doing (evicted, preempted, node
    lost, deleted by someone else): retried without using up the task's retries, up to
    `Limits.free_infra_retries`. `result`: what a final, successful ending returned (a
    container's termination message, as JSON), recorded as the attempt's return value.
    """

    success: bool
    reason: str  # what the user sees as the attempt's error
    exit_code: int | None = None
    infrastructure: bool = False
    final: bool = False
    result: Any = None


@dataclass(frozen=True)
class Waiting:
    """Why an attempt that has been handed to the executor does not run yet."""

    reason: str  # e.g. Unschedulable, ContainerCreating
    message: str
    since: datetime
    # A launch the executor could not make (a quota's 403): not to be launched again before.
    retry_at: datetime | None = None

    def note(self) -> str:
        """The line shown on the task while it waits."""
        return f"waiting: {self.reason}" + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class Observed:
    """An executor's observations, read together with `alive` in each scheduling pass."""

    endings: Mapping[AttemptRef, Ending] = field(default_factory=dict)
    waiting: Mapping[AttemptRef, Waiting] = field(default_factory=dict)
    # Attempts whose own container runs with no worker to tell the API (container tasks):
    # the executor vouches for them instead of heartbeats. Value: where it runs (the node).
    supervised: Mapping[AttemptRef, str] = field(default_factory=dict)


NOTHING = Observed()


@dataclass(frozen=True)
class PodFacts:
    """What an attempt's pod shows while the attempt waits to start ("why is this not
    running"): read from the cluster when someone asks."""

    name: str
    phase: str  # Pending, Running, ...
    node: str  # "" while it is not placed
    image: str  # the task container's
    events: tuple[str, ...] = ()  # the last few, oldest first: "Warning FailedScheduling: ..."

    def lines(self) -> list[str]:
        """The facts as sentences, for the task's waiting reasons."""
        node = f"on node {self.node}" if self.node else "not placed on a node yet"
        out = [f"its pod {self.name} is {self.phase}, {node}, image {self.image}"]
        return out + [f"pod event: {event}" for event in self.events]
