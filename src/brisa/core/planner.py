"""The scheduler's decisions, as a pure function: `plan(snapshot) -> actions`.

No I/O, no clock: the snapshot carries `now` and everything the decisions depend on. The
scheduler loop loads a snapshot, calls `plan`, and applies the actions with guarded updates,
so a decision made on stale data loses its race instead of doing harm.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import datetime, timedelta

from brisa.core import retry, timetable
from brisa.core.budget import Budget
from brisa.core.decisions import (
    Action,
    CreateRun,
    DagSchedule,
    Kill,
    Limits,
    NoteWaiting,
    QueueTask,
    Relaunch,
    Release,
    SetRunState,
    SetTaskState,
    Snapshot,
    StartAttempt,
)
from brisa.core.observations import Ending, Observed
from brisa.core.records import AttemptRef, RunRecord, TaskRecord
from brisa.core.runview import Entry, Need, RunView, RunViews
from brisa.core.spec import DagSpec, TaskSpec
from brisa.core.states import FINISHED_TASK_STATES, RunState, TaskState
from brisa.core.trigger_rules import Verdict

T = TaskState

__all__ = [
    "Action",
    "CreateRun",
    "DagSchedule",
    "Kill",
    "Limits",
    "NoteWaiting",
    "QueueTask",
    "Relaunch",
    "Release",
    "SetRunState",
    "SetTaskState",
    "Snapshot",
    "StartAttempt",
    "judging_from",
    "plan",
]


def judging_from(
    since: datetime, *, gap: float | None, expected: float, now: datetime, limits: Limits
) -> datetime:
    """Since when the scheduler judges workers, `gap` seconds after its previous pass (None:
    its first) when it waits up to `expected` seconds between passes: from `now` on when the
    gap shows it was paused (SIGSTOP, a frozen VM, a machine asleep), else as before
    (`since`, its start or its last resume).

    A pause is treated like a restart: heartbeats, start-ups and exits that workers could
    not get heard while the scheduler (and, in one process, the API) was stopped are not held
    against them; each has its full limit again from the resume. A task's own budgets,
    `execution_timeout` and `dagrun_timeout`, are wall time and not moved: the task ran on.
    """
    if gap is not None and gap > expected + limits.pause_after:
        return now
    return since


def plan(snapshot: Snapshot) -> list[Action]:
    """Every action the scheduler should take now, oldest runs first."""
    actions: list[Action] = [*_plan_new_runs(snapshot)]
    views = snapshot.views if snapshot.views is not None else RunViews()
    runs = []
    for run in sorted(snapshot.runs, key=lambda r: (r.logical_date, r.id)):
        spec = snapshot.specs.get(run.version_id)
        if spec is not None:
            runs.append((run, spec, views.of(run, spec)))
    open_tasks: Counter[tuple[str, str]] = Counter()
    for run, _, view in runs:
        open_tasks[(run.team, run.dag_id)] += view.open
    budget = Budget(snapshot, open_tasks)
    for run, spec, view in runs:
        if run.state is RunState.QUEUED:
            actions += _start_run(snapshot, run, spec, budget, view)
        elif run.state is RunState.RUNNING:
            actions += _plan_run(snapshot, run, spec, budget, view)
    tasks = _tasks_by_id(snapshot)
    return actions + _plan_kills(snapshot, tasks) + _plan_releases(snapshot, tasks)


def _tasks_by_id(snapshot: Snapshot) -> dict[int, TaskRecord]:
    """The task instances of the snapshot by id, when a live worker or an ending needs one."""
    if not snapshot.alive and not snapshot.observed.endings:
        return {}
    tasks = {ti.id: ti for run in snapshot.runs for ti in run.tasks.values()}
    tasks.update({ti.id: ti for ti in snapshot.stray})
    return tasks


def _plan_kills(snapshot: Snapshot, tasks: dict[int, TaskRecord]) -> list[Action]:
    """Stop live workers whose attempt is no longer current.

    Cleared, cancelled and superseded attempts are stopped at once; a worker whose task has
    finished normally is given `exit_grace` to exit on its own (it may still be writing its
    last log lines) before it is killed.
    """
    kills: list[Action] = []
    for ref in sorted(snapshot.alive, key=lambda r: (r.ti_id, r.try_number)):
        ti = tasks.get(ref.ti_id)
        if ti is None:
            continue
        if ti.try_number != ref.try_number or ti.state in (T.PENDING, T.CANCELLED):
            kills.append(Kill(ref))
        elif ti.state not in (T.QUEUED, T.RUNNING):
            ended = ti.end_date
            if ended is None or _counted(snapshot, ended) > snapshot.limits.exit_grace:
                kills.append(Kill(ref))
    return kills


def _plan_releases(snapshot: Snapshot, tasks: dict[int, TaskRecord]) -> list[Action]:
    """Let the executor clean up after endings whose attempt is no longer open: its outcome
    was stored in an earlier pass (this pass's updates may still lose their race), it was
    superseded, or the task is unknown."""
    releases: list[Action] = []
    for ref in sorted(snapshot.observed.endings, key=lambda r: (r.ti_id, r.try_number)):
        ti = tasks.get(ref.ti_id)
        if ti is None or ti.try_number != ref.try_number or ti.state not in (T.QUEUED, T.RUNNING):
            releases.append(Release(ref))
    return releases


def _plan_new_runs(snapshot: Snapshot) -> list[Action]:
    actions: list[Action] = []
    for entry in snapshot.dags:
        dag, spec = entry.dag, entry.dag.spec
        if dag.is_paused or not dag.is_active or spec.start_date is None:
            continue
        room = spec.max_active_runs - entry.active_runs
        fires = timetable.due_fires(
            spec.schedule,
            start=spec.start_date,
            end=spec.end_date,
            last=entry.last_scheduled,
            now=snapshot.now,
            catchup=spec.catchup,
            limit=min(room, snapshot.limits.max_runs_created),
        )
        defaults = spec.param_defaults()
        for fire in fires:
            actions.append(
                CreateRun(
                    team=dag.team,
                    dag_id=dag.dag_id,
                    version_id=dag.version_id,
                    logical_date=fire,
                    interval=timetable.data_interval(spec.schedule, fire, spec.start_date),
                    task_ids=tuple(spec.tasks),
                    conf=defaults,
                    repo=dag.repo,
                    code_version=dag.code_version,
                )
            )
    return actions


def _start_run(
    snapshot: Snapshot, run: RunRecord, spec: DagSpec, budget: Budget, view: RunView
) -> list[Action]:
    """A queued run's start (within `max_active_runs`) with its first tasks queued in the
    same pass, if the move takes effect (ADR 0037); whatever else it needs now (a task to
    settle, a timeout) is left to the pass that follows the move."""
    start = budget.start_run(run, spec)
    if not start:
        return []
    planned = _plan_run(snapshot, run, spec, budget, view)
    first = [a for a in planned if isinstance(a, QueueTask)]
    whole = len(first) == len(planned)
    moves = [dataclasses.replace(a, planned=whole) if isinstance(a, SetRunState) else a
             for a in start]  # fmt: skip
    return [*moves, *first]


def _plan_run(
    snapshot: Snapshot, run: RunRecord, spec: DagSpec, budget: Budget, view: RunView
) -> list[Action]:
    timeout = spec.dagrun_timeout
    started = run.start_date or run.created_at
    if timeout and snapshot.now - started > timedelta(seconds=timeout):
        return _time_out_run(run, f"run exceeded its dagrun_timeout of {timeout:g}s")
    # Decisions rest on the stored states only: an update planned here may still lose its race
    # (a "lost" worker reports success first), so nothing downstream may build on it yet.
    # Only the tasks that can act are looked at (`core.runview`); those that need room are
    # passed over at once when there is none left.
    actions: list[Action] = []
    for entry in view.entries:
        if entry.need in (Need.RETRY, Need.READY) and budget.slots <= 0:
            continue
        action = _plan_task(snapshot, run, spec, budget, entry)
        if action is not None:
            actions.append(action)
    if view.finished:
        outcome = RunState.FAILED if view.failed else RunState.SUCCESS
        actions.append(SetRunState(run.id, outcome, expected=run.state))
    return actions


def _time_out_run(run: RunRecord, reason: str) -> list[Action]:
    actions: list[Action] = [SetRunState(run.id, RunState.FAILED, reason, expected=run.state)]
    for ti in run.tasks.values():
        if ti.state not in FINISHED_TASK_STATES:
            actions.append(
                SetTaskState(
                    ti.id,
                    ti.state,
                    ti.try_number,
                    T.CANCELLED,
                    error=reason,
                    kill=ti.state in (T.QUEUED, T.RUNNING),
                )
            )
    return actions


def _plan_task(
    snapshot: Snapshot, run: RunRecord, spec: DagSpec, budget: Budget, entry: Entry
) -> Action | None:
    ti, task = entry.ti, entry.task
    ref = AttemptRef(ti.id, ti.try_number)
    if ti.state in (T.RUNNING, T.QUEUED) and ti.id in snapshot.others:
        return None  # another scheduler supervises it
    if ti.state is T.RUNNING:
        return _check_running(snapshot, ti, task, ref)
    if ti.state is T.QUEUED:
        return _check_queued(snapshot, ti, task, ref)
    if ref in snapshot.alive:
        # Finished, waiting to retry or cleared, yet its worker still runs: the task may not
        # run again before it is gone, so two tries of one task never run at once.
        # (`_plan_kills` decides when to stop it.)
        return None
    if entry.need is Need.SETTLE:
        new = T.SKIPPED if entry.verdict is Verdict.SKIP else T.UPSTREAM_FAILED
        return SetTaskState(ti.id, ti.state, ti.try_number, new)
    ready = retry.is_due(ti, snapshot.now) if entry.need is Need.RETRY else True
    if ready and (claim := budget.take_task(run, spec, task)) is not None:
        return QueueTask(ti.id, ti.state, ti.try_number, run.id, task.execution_timeout, claim)
    return None


def _check_running(
    snapshot: Snapshot, ti: TaskRecord, task: TaskSpec, ref: AttemptRef
) -> Action | None:
    now, limits = snapshot.now, snapshot.limits
    timeout = task.execution_timeout
    error = None
    ending = snapshot.observed.endings.get(ref)
    if timeout and ti.start_date and now - ti.start_date > timedelta(seconds=timeout):
        error = f"timed out after {timeout:g}s (execution_timeout)"
    elif ending is not None and ref not in snapshot.alive:
        return _ended(snapshot, ti, task, ending)
    elif ref in snapshot.observed.supervised:
        return None  # the executor watches its container: no heartbeats to expect
    elif (
        ref not in snapshot.alive and ti.id not in snapshot.unseen and _started_before(snapshot, ti)
    ):
        # The executor reads the outside world (process table, pods): the worker is gone and
        # did not report, since a report is recorded before its process exits. (A worker
        # records itself with the executor before it starts, so one that started before the
        # executor was asked is in `alive` if it lives.)
        error = "worker lost: its process ended without reporting a result"
    elif _last_sign_of_life(snapshot, ti) < now - timedelta(seconds=limits.heartbeat_timeout):
        error = f"worker lost: no heartbeat for {limits.heartbeat_timeout:g}s"
    if error is None:
        return None
    state, next_try_at, error = retry.failure_outcome(task, ti, now, error)
    return SetTaskState(ti.id, T.RUNNING, ti.try_number, state, next_try_at, error, kill=True)


def _ended(snapshot: Snapshot, ti: TaskRecord, task: TaskSpec, ending: Ending) -> Action:
    """An open attempt whose worker or container the executor saw end: its outcome when the
    ending is final (a container's exit code), else a failure with the executor's reason (a
    worker reports before it exits, so one that ended unreported failed)."""
    error = ending.reason
    if ending.final and ending.success:
        size = len(json.dumps(ending.result))  # as the API measures a worker's (ASCII JSON)
        limit = snapshot.limits.max_return_bytes
        if size <= limit:
            return SetTaskState(
                ti.id, ti.state, ti.try_number, T.SUCCESS, return_value=ending.result
            )
        error = (
            f"the container's result (its termination message) is {size} bytes of JSON, over "
            f"the limit of {limit} bytes ([core] max_return_value_bytes)"
        )
    if not ending.final and ending.success:
        error = f"worker lost: {ending.reason}, without reporting a result"
    if ending.infrastructure and ti.try_number <= snapshot.limits.free_infra_retries:
        error += "; retried without counting against the task's retries"
        return SetTaskState(
            ti.id, ti.state, ti.try_number, T.UP_FOR_RETRY, snapshot.now, error,
            retry_base=ti.retry_base + 1,
        )  # fmt: skip
    # Nothing to kill: the executor cleans up once the outcome is stored (`Release`).
    state, next_try_at, error = retry.failure_outcome(task, ti, snapshot.now, error)
    return SetTaskState(ti.id, ti.state, ti.try_number, state, next_try_at, error)


def _started_before(snapshot: Snapshot, ti: TaskRecord) -> bool:
    return ti.start_date is None or ti.start_date < snapshot.now


def _last_sign_of_life(snapshot: Snapshot, ti: TaskRecord) -> datetime:
    judged = _judged_since(snapshot, ti.id)
    seen = [t for t in (ti.heartbeat_at, ti.start_date, judged) if t is not None]
    return max(seen) if seen else snapshot.now


def _judged_since(snapshot: Snapshot, ti_id: int | None = None) -> datetime | None:
    """Since when this scheduler judges the attempt: its start or resume (`judging_since`), or
    later, its adoption of the attempt from a lost scheduler."""
    adopted = snapshot.adopted.get(ti_id) if ti_id is not None else None
    if adopted is None or snapshot.judging_since is None:
        return adopted or snapshot.judging_since
    return max(adopted, snapshot.judging_since)


def _counted(snapshot: Snapshot, since: datetime, ti_id: int | None = None) -> float:
    """Seconds from `since` to now that this scheduler was running for (`_judged_since`)."""
    judged = _judged_since(snapshot, ti_id)
    if judged is not None:
        since = max(since, judged)
    return (snapshot.now - since).total_seconds()


def _check_queued(
    snapshot: Snapshot, ti: TaskRecord, task: TaskSpec, ref: AttemptRef
) -> Action | None:
    """A queued attempt whose worker has not started (told the API) yet.

    Whether its worker process lives or not, it has `queued_timeout` to start: one that died
    is launched again meanwhile (after `relaunch_after`), one that lives but hangs in its
    start-up is stopped once the time is up. Either way the attempt fails (retries apply).
    """
    if ti.queued_at is None:
        return None
    alive = ref in snapshot.alive
    if _observed(snapshot.observed, ref, alive):
        return _check_queued_observed(snapshot, ti, task, ref, alive)
    if _counted(snapshot, ti.queued_at, ti.id) > snapshot.limits.queued_timeout:
        error = f"worker never started within {snapshot.limits.queued_timeout:g}s"
        if alive:
            error += ": its process lived but never reached the API"
        state, next_try_at, error = retry.failure_outcome(task, ti, snapshot.now, error)
        return SetTaskState(ti.id, T.QUEUED, ti.try_number, state, next_try_at, error, kill=True)
    # A worker that died is launched again without waiting for a resumed scheduler's count.
    if not alive and _relaunch_due(snapshot, ti):
        return Relaunch(ref, task.execution_timeout)
    return None


def _observed(observed: Observed, ref: AttemptRef, alive: bool) -> bool:
    return (
        (ref in observed.endings and not alive)
        or ref in observed.supervised
        or (ref in observed.waiting)
    )


def _check_queued_observed(
    snapshot: Snapshot, ti: TaskRecord, task: TaskSpec, ref: AttemptRef, alive: bool
) -> Action | None:
    """A queued attempt the executor has something to say about (`core.observations`)."""
    observed = snapshot.observed
    ending = observed.endings.get(ref)
    if ending is not None and not alive:
        return _ended(snapshot, ti, task, ending)  # e.g. its image cannot be pulled
    if ref in observed.supervised:
        return StartAttempt(ref, observed.supervised[ref])
    waiting = observed.waiting[ref]
    # The executor times its waits out itself (a pod's pending timeout), with the reason: an
    # ending is observed then. One it refused to start (a quota) is launched again.
    if ti.error != waiting.note():
        return NoteWaiting(ref, waiting.note())
    if alive or not _relaunch_due(snapshot, ti):
        return None
    if waiting.retry_at is not None and snapshot.now < waiting.retry_at:
        return None  # refused again and again: the executor backs off
    return Relaunch(ref, task.execution_timeout)


def _relaunch_due(snapshot: Snapshot, ti: TaskRecord) -> bool:
    assert ti.queued_at is not None
    return (snapshot.now - ti.queued_at).total_seconds() > snapshot.limits.relaunch_after
