"""The executor port."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from brisa.core.records import AttemptRef
from brisa.worker.warmed import WarmKey


@dataclass(frozen=True)
class LaunchRequest:
    ref: AttemptRef
    token: str
    log_path: Path
    timeout: float | None = None
    # What the attempt will run, when the scheduler knows it: an executor may fork its worker
    # from a process that imported that file already (`[executor] warm_imports`, ADR 0014).
    warm: WarmKey | None = None


class Executor(Protocol):
    parallelism: int

    def launch(self, request: LaunchRequest) -> None:
        """Start a worker for the attempt; a no-op if one is already alive for it."""

    def kill(self, ref: AttemptRef) -> None:
        """Stop the attempt's worker (all its processes); a no-op if there is none."""

    def alive(self) -> frozenset[AttemptRef]:
        """Attempts with a live worker, read from the outside world, not from bookkeeping."""

    def close(self) -> None:
        """Stop tracking; running workers are left alone (they finish and report)."""
