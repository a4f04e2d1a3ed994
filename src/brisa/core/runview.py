"""What in a run the planner has to look at on a pass, worked out once per version of the run.

Most task instances of the active runs need nothing on most passes: finished, or pending with
upstream tasks still to finish. Which ones do (open attempts, tasks to skip, tasks ready or
due for a retry) depends only on the run's record and its DAG's spec, both immutable values:
`RunViews` keeps the answer for each run until the scheduler hands it a newer record of it,
so a pass costs time for the runs and tasks that can act, not for every task in flight
(docs/adr/0022-incremental-scheduler-snapshots.md). Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from brisa.core.records import RunRecord, TaskRecord
from brisa.core.spec import DagSpec, TaskSpec
from brisa.core.states import FINISHED_TASK_STATES, TaskState
from brisa.core.trigger_rules import Verdict, evaluate

T = TaskState
_FAILED = (T.FAILED, T.UPSTREAM_FAILED, T.CANCELLED)


class Need(Enum):
    OPEN = "open"  # queued or running: judged on every pass
    SETTLE = "settle"  # its upstream decided it is skipped or upstream_failed
    RETRY = "retry"  # up for retry: queued when due, if there is room
    READY = "ready"  # its trigger rule lets it start: queued if there is room


@dataclass(frozen=True)
class Entry:
    task_id: str
    ti: TaskRecord
    task: TaskSpec
    need: Need
    verdict: Verdict | None = None


@dataclass(frozen=True)
class RunView:
    entries: tuple[Entry, ...]  # in task id order, as the planner decides
    finished: bool  # every task is finished
    failed: bool  # and one of them failed (or was cancelled)
    open: int  # queued and running tasks

    @property
    def takes_room(self) -> bool:
        return any(e.need in (Need.RETRY, Need.READY) for e in self.entries)


def view_of(run: RunRecord, spec: DagSpec) -> RunView:
    states = {tid: ti.state for tid, ti in run.tasks.items()}
    entries: list[Entry] = []
    for tid, ti in sorted(run.tasks.items()):
        task = spec.tasks.get(tid)
        if task is None or ti.state in FINISHED_TASK_STATES:
            continue
        if ti.state in (T.QUEUED, T.RUNNING):
            entries.append(Entry(tid, ti, task, Need.OPEN))
        elif ti.state is T.UP_FOR_RETRY:
            entries.append(Entry(tid, ti, task, Need.RETRY))
        else:
            verdict = evaluate(task.trigger_rule, [states[u] for u in task.upstream if u in states])
            if verdict in (Verdict.SKIP, Verdict.UPSTREAM_FAILED):
                entries.append(Entry(tid, ti, task, Need.SETTLE, verdict))
            elif verdict is Verdict.READY:
                entries.append(Entry(tid, ti, task, Need.READY, verdict))
    finished = all(state in FINISHED_TASK_STATES for state in states.values())
    return RunView(
        entries=tuple(entries),
        finished=finished,
        failed=finished and any(s in _FAILED for s in states.values()),
        open=sum(1 for s in states.values() if s in (T.QUEUED, T.RUNNING)),
    )


class RunViews:
    """`view_of` remembered per run, for as long as the run's record is the same object."""

    def __init__(self) -> None:
        self._views: dict[int, tuple[RunRecord, DagSpec, RunView]] = {}

    def of(self, run: RunRecord, spec: DagSpec) -> RunView:
        known = self._views.get(run.id)
        if known is not None and known[0] is run and known[1] is spec:
            return known[2]
        view = view_of(run, spec)
        self._views[run.id] = (run, spec, view)
        return view

    def keep(self, run_ids: set[int]) -> None:
        """Forget the runs not in `run_ids` (no longer active)."""
        for gone in set(self._views) - run_ids:
            del self._views[gone]
