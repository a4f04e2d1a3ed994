"""The executor port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from brisa.core.observations import NOTHING, Ending, Observed, Waiting
from brisa.core.records import AttemptRef
from brisa.core.spec import TaskSpec
from brisa.worker.warmed import WarmKey

__all__ = ["NOTHING", "Attempt", "Ending", "Executor", "LaunchRequest", "Observed", "Waiting"]


@dataclass(frozen=True)
class Attempt:
    """What the attempt is, for an executor that must describe it to the outside world (pod
    names, labels, a container task's command): the scheduler knows it when it launches."""

    team: str
    dag_id: str
    run_id: str
    task_id: str
    task: TaskSpec
    logical_date: datetime
    data_interval: tuple[datetime, datetime]
    params: Mapping[str, Any] = field(default_factory=dict)
    repo: str = "dags"
    code_version: str = ""


@dataclass(frozen=True)
class LaunchRequest:
    ref: AttemptRef
    token: str
    log_path: Path
    timeout: float | None = None
    # What the attempt will run, when the scheduler knows it: an executor may fork its worker
    # from a process that imported that file already (`[executor] warm_imports`, ADR 0014).
    warm: WarmKey | None = None
    attempt: Attempt | None = None
    # The scheduler launches the attempt again (`Relaunch`): queued, with no live worker, so
    # it may have been launched before, by this scheduler or another (ADR 0040).
    relaunch: bool = False
    # The scheduler lease's fence of the pass that decided the launch (None: no leases), for an
    # executor that must not start anything once that lease is lost (ADR 0040).
    fence: object | None = None


class Executor(Protocol):
    parallelism: int

    def launch(self, request: LaunchRequest) -> None:
        """Start a worker for the attempt; a no-op if one is already alive for it. A
        `relaunch` may instead end the attempt (an ending in `observe`) where starting it again
        could run it twice under one name (a pod of the Kubernetes executor, ADR 0040)."""

    def kill(self, ref: AttemptRef) -> None:
        """Stop the attempt's worker (all its processes); a no-op if there is none."""

    def alive(self) -> frozenset[AttemptRef]:
        """Attempts with a live worker, read from the outside world, not from bookkeeping."""

    def observe(self) -> Observed:
        """What the executor knows beyond `alive` (`core.observations`): why attempts wait,
        container attempts it supervises, and how ended attempts ended. An ending stays
        observed until `release`. Read after `alive`, in the same pass. `NOTHING` when the
        executor sees no more than alive (the local executor)."""

    def release(self, ref: AttemptRef) -> None:
        """The attempt's outcome is stored (or the attempt is unknown): what the executor
        keeps of it may go (a finished pod is deleted per policy). Called for observed
        endings only; a no-op for an executor that observes none."""

    def close(self) -> None:
        """Stop tracking; running workers are left alone (they finish and report)."""
