"""What the scheduler's decisions are made on and what they are: the snapshot, the limits and
the actions `planner.plan` returns (pure data, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from brisa.core.observations import NOTHING, Observed
from brisa.core.pools import PoolBook, PoolClaim
from brisa.core.records import AttemptRef, DagRecord, RunRecord, TaskRecord
from brisa.core.runview import RunViews
from brisa.core.spec import DagSpec
from brisa.core.states import RunState, TaskState


@dataclass(frozen=True)
class Limits:
    heartbeat_timeout: float = 30.0
    queued_timeout: float = 120.0
    relaunch_after: float = 5.0
    # A worker that reported its result gets this long to exit by itself before it is killed.
    exit_grace: float = 10.0
    max_runs_created: int = 50
    # Infrastructure failures an executor observed (evicted, node lost, ...) retried without
    # using up a task's retries, counted in tries since the task was created (0: none).
    free_infra_retries: int = 0
    # The largest return value recorded, as ASCII JSON ([core] max_return_value_bytes): for
    # results an executor reads (a container's termination message); workers check their own.
    max_return_bytes: int = 1024 * 1024

    @property
    def pause_after(self) -> float:
        """A gap between two scheduling passes this much longer than the loop waits by itself
        means the scheduler was paused (`judging_from`). Half the heartbeat timeout: a worker
        heard just before a shorter pause is heard again in time (its heartbeat interval is a
        fraction of the timeout)."""
        return self.heartbeat_timeout / 2


@dataclass(frozen=True)
class DagSchedule:
    dag: DagRecord
    last_scheduled: datetime | None
    active_runs: int


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    dags: list[DagSchedule]
    runs: list[RunRecord]
    specs: dict[int, DagSpec]
    alive: frozenset[AttemptRef]
    free_slots: int
    # Task instances outside active runs that still have a live worker (to be stopped).
    stray: list[TaskRecord] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    # Since when this scheduler has been running without a pause (its start, or its resume
    # after a pause: `judging_from`). What workers could not do before (heartbeat, start,
    # exit) while no API was up or the scheduler was stopped is not held against them.
    judging_since: datetime | None = None
    # What the executor saw beyond alive: endings, waiting reasons, supervised containers.
    observed: Observed = NOTHING
    # With several schedulers (ADR 0019): task instances whose queued or running attempt
    # another live scheduler supervises (not judged here); attempts this one adopted from a
    # lost scheduler, judged from their adoption as after a restart; and those of them whose
    # worker its executor may not see (another home's or host's process), judged by
    # heartbeats only.
    others: frozenset[int] = frozenset()
    adopted: Mapping[int, datetime] = field(default_factory=dict)
    unseen: frozenset[int] = frozenset()
    # Every pool with its free slots (None: no pool limits, e.g. in tests of other rules).
    pools: PoolBook | None = None
    # What in each run the planner must look at, remembered across passes by the scheduler
    # (`core.runview`; None: worked out afresh).
    views: RunViews | None = None


@dataclass(frozen=True)
class CreateRun:
    team: str
    dag_id: str
    version_id: int
    logical_date: datetime
    interval: tuple[datetime, datetime]
    task_ids: tuple[str, ...]
    conf: dict[str, Any]
    repo: str = "dags"
    code_version: str = ""


@dataclass(frozen=True)
class SetRunState:
    run_pk: int
    state: RunState
    reason: str = ""
    # The state the decision was taken on: the update is refused if the run has left it.
    expected: RunState | None = None
    # A run started with everything its tasks needed planned in the same pass (its first
    # tasks queued, ADR 0037): the move readies nothing for a pass to follow at once.
    planned: bool = False


@dataclass(frozen=True)
class SetTaskState:
    ti_id: int
    expected: TaskState
    try_number: int
    state: TaskState
    next_try_at: datetime | None = None
    error: str | None = None
    kill: bool = False
    # A retry that does not count against the task's retries: its new retry base.
    retry_base: int | None = None
    # A success's return value (a container task's result, read by the executor).
    return_value: Any = None


@dataclass(frozen=True)
class QueueTask:
    ti_id: int
    expected: TaskState
    try_number: int  # the try that ended; the new one is try_number + 1
    run_pk: int
    timeout: float | None
    pool: PoolClaim | None = None  # the slots it takes (None: 1 of its team's default pool)


@dataclass(frozen=True)
class Relaunch:
    ref: AttemptRef
    timeout: float | None


@dataclass(frozen=True)
class Kill:
    ref: AttemptRef


@dataclass(frozen=True)
class StartAttempt:
    """A queued attempt whose own container runs (no worker to tell the API): it is running."""

    ref: AttemptRef
    hostname: str


@dataclass(frozen=True)
class NoteWaiting:
    """Show why a queued attempt does not run yet (on the task's error field)."""

    ref: AttemptRef
    note: str


@dataclass(frozen=True)
class Release:
    """An observed ending whose outcome is stored (or whose attempt is unknown or over): the
    executor may clean up after it."""

    ref: AttemptRef


Action = (
    CreateRun
    | SetRunState
    | SetTaskState
    | QueueTask
    | Relaunch
    | Kill
    | StartAttempt
    | NoteWaiting
    | Release
)
