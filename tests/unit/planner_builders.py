"""Builders for planner tests: real serialized DAGs, records, snapshots, and a tiny fake store.

`apply` and `finish` play the store and the worker with the same guards as the real ones
(expected state and try number), so tests can run a DAG through successive plans on a fake
clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from brisa import DAG, shell
from brisa.authoring.serialize import serialize
from brisa.core.observations import NOTHING, Observed
from brisa.core.planner import (
    Action,
    Limits,
    QueueTask,
    SetRunState,
    SetTaskState,
    Snapshot,
)
from brisa.core.pools import PoolBook
from brisa.core.records import AttemptRef, DagRecord, RunRecord, TaskRecord
from brisa.core.spec import DagSpec
from brisa.core.states import RunState, TaskState

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """The fake clock: `seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def spec_of(dag: DAG) -> DagSpec:
    return serialize(dag, f"{dag.dag_id}.py")


def build_spec(
    dag_id: str = "etl",
    *,
    tasks: Sequence[str] = ("a",),
    edges: Iterable[tuple[str, str]] = (),
    task_options: Mapping[str, Mapping[str, Any]] | None = None,
    **dag_kwargs: Any,
) -> DagSpec:
    """A DAG of shell tasks; `edges` are (upstream, downstream) pairs. Manual unless told."""
    dag_kwargs.setdefault("schedule", None)
    options = task_options or {}
    with DAG(dag_id, **dag_kwargs) as dag:
        made = {tid: shell(tid, "true", **options.get(tid, {})) for tid in tasks}
        for up, down in edges:
            made[up] >> made[down]
    return spec_of(dag)


def dag_record(
    spec: DagSpec,
    *,
    team: str = "data",
    version_id: int = 1,
    is_paused: bool = False,
    is_active: bool = True,
) -> DagRecord:
    return DagRecord(
        team=team,
        dag_id=spec.dag_id,
        fileloc=f"{spec.dag_id}.py",
        version_id=version_id,
        is_active=is_active,
        is_paused=is_paused,
        last_parsed_at=T0,
        spec=spec,
    )


def make_run(
    spec: DagSpec,
    *,
    pk: int = 1,
    state: RunState = RunState.RUNNING,
    team: str = "data",
    version_id: int = 1,
    logical_date: datetime = T0,
    start_date: datetime | None = T0,
    created_at: datetime = T0,
    tasks: Mapping[str, TaskState | Mapping[str, Any]] | None = None,
) -> RunRecord:
    """A run with every task of `spec`: pending at try 0 unless `tasks` says otherwise.

    A task's id is `pk * 100 + its position`, so ids are unique across runs.
    """
    overrides = tasks or {}
    records = {}
    for i, tid in enumerate(sorted(spec.tasks)):
        fields = overrides.get(tid, {})
        if isinstance(fields, TaskState):
            fields = {"state": fields}
        base: dict[str, Any] = {"state": TaskState.PENDING, "try_number": 0}
        records[tid] = TaskRecord(id=pk * 100 + i, run_pk=pk, task_id=tid, **{**base, **fields})
    return RunRecord(
        id=pk,
        team=team,
        dag_id=spec.dag_id,
        run_id=f"run_{pk}",
        run_type="manual",
        state=state,
        version_id=version_id,
        logical_date=logical_date,
        data_interval_start=logical_date,
        data_interval_end=logical_date,
        conf={},
        created_at=created_at,
        start_date=start_date,
        tasks=records,
    )


def snapshot(
    now: datetime,
    runs: Sequence[RunRecord] = (),
    *,
    spec: DagSpec | None = None,
    specs: dict[int, DagSpec] | None = None,
    alive: Iterable[AttemptRef] = (),
    free_slots: int = 32,
    stray: Sequence[TaskRecord] = (),
    limits: Limits | None = None,
    judging_since: datetime | None = None,
    observed: Observed = NOTHING,
    pools: PoolBook | None = None,
) -> Snapshot:
    """A snapshot; with `spec`, every run's version maps to it."""
    all_specs = dict(specs or {})
    if spec is not None:
        all_specs.update({run.version_id: spec for run in runs})
    return Snapshot(
        now=now,
        dags=[],
        runs=list(runs),
        specs=all_specs,
        alive=frozenset(alive),
        free_slots=free_slots,
        stray=list(stray),
        limits=limits or Limits(),
        judging_since=judging_since,
        observed=observed,
        pools=pools,
    )


def ref(run: RunRecord, task_id: str) -> AttemptRef:
    ti = run.tasks[task_id]
    return AttemptRef(ti.id, ti.try_number)


def task_states(run: RunRecord) -> dict[str, TaskState]:
    return {tid: ti.state for tid, ti in run.tasks.items()}


def _set_task(run: RunRecord, ti_id: int, **values: Any) -> RunRecord:
    tasks = {tid: replace(ti, **values) if ti.id == ti_id else ti for tid, ti in run.tasks.items()}
    return replace(run, tasks=tasks)


def _find(run: RunRecord, ti_id: int) -> TaskRecord | None:
    return next((ti for ti in run.tasks.values() if ti.id == ti_id), None)


def _guard(ti: TaskRecord | None, expected: TaskState, try_number: int) -> bool:
    return ti is not None and ti.state is expected and ti.try_number == try_number


def apply(runs: Sequence[RunRecord], actions: Sequence[Action], now: datetime) -> list[RunRecord]:
    """What the store does with the planner's actions, guarded like the real updates."""
    out = list(runs)
    for action in actions:
        for i, run in enumerate(out):
            out[i] = _apply_one(run, action, now)
    return out


def _apply_one(run: RunRecord, action: Action, now: datetime) -> RunRecord:
    if isinstance(action, SetRunState) and action.run_pk == run.id:
        started = run.start_date or (now if action.state is RunState.RUNNING else None)
        return replace(run, state=action.state, start_date=started)
    if not isinstance(action, QueueTask | SetTaskState):
        return run
    if not _guard(_find(run, action.ti_id), action.expected, action.try_number):
        return run  # the update loses its race, as the store's guarded UPDATE would
    if isinstance(action, QueueTask):
        return _set_task(
            run,
            action.ti_id,
            state=TaskState.QUEUED,
            try_number=action.try_number + 1,
            queued_at=now,
            start_date=None,
            heartbeat_at=None,
            next_try_at=None,
        )
    return _set_task(
        run, action.ti_id, state=action.state, next_try_at=action.next_try_at, error=action.error
    )


def start(run: RunRecord, task_id: str, now: datetime) -> RunRecord:
    """The worker of the task's current try starts (queued -> running)."""
    ti = run.tasks[task_id]
    assert ti.state is TaskState.QUEUED, f"{task_id} is {ti.state}, not queued"
    return _set_task(run, ti.id, state=TaskState.RUNNING, start_date=now, heartbeat_at=now)


def finish(
    run: RunRecord,
    task_id: str,
    state: TaskState,
    now: datetime,
    next_try_at: datetime | None = None,
) -> RunRecord:
    """The worker of the task's current try reports its outcome (running -> `state`)."""
    ti = run.tasks[task_id]
    assert ti.state is TaskState.RUNNING, f"{task_id} is {ti.state}, not running"
    return _set_task(run, ti.id, state=state, end_date=now, next_try_at=next_try_at)
