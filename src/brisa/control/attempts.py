"""Attempts as their own resource: every try of a task instance with what people ask about
it — its header facts, why it is still waiting, its task's spec at the run's version — and
its log read by lines (`logs.lines`) or streamed raw for a download. Shared by the REST API
(`/attempts`, `/attempts/{n}`) and the attempt page.

Why-waiting reasons are worded as waiting, never as a failure: an attempt that has not
started has not failed (UI.md A.2.8).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from brisa.control.pools import PoolWait
from brisa.control.queries import Clock, Queries, Scope
from brisa.control.redaction import redact_spec
from brisa.core.observations import PodFacts
from brisa.core.records import AttemptRecord, AttemptRef, RunRecord, TaskRecord
from brisa.core.spec import DagSpec, TaskSpec
from brisa.core.states import FINISHED_TASK_STATES, RunState, TaskState
from brisa.errors import NotFound
from brisa.executor.inspection import Pods
from brisa.logs import layout, tail
from brisa.logs.lines import LogFile
from brisa.logs.masking import DEFAULT_ENV_PATTERN
from brisa.objectstore import ObjectStore
from brisa.store import Store

WAITING = frozenset({TaskState.PENDING, TaskState.QUEUED, TaskState.UP_FOR_RETRY})
WAITING_NOTE = "waiting: "  # how an executor's word on a queued try starts (core.observations)
DOWNLOAD_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Attempt:
    """One try of a task instance, with its run and task (records redacted)."""

    run: RunRecord
    task: TaskRecord
    record: AttemptRecord
    of: int  # tries the task may take (retries + 1)
    spec: TaskSpec | None  # the task at the run's DAG version (None if that is gone)
    return_value: Any  # the task's, when this is its current try
    tries: list[AttemptRecord]  # every try, oldest first
    waiting: list[str]  # why it has not started, in plain language (empty once started)
    pod: PodFacts | None = None  # its pod while it waits (Kubernetes executor)
    pool_wait: PoolWait | None = None  # its pool holds it back, with the slots' holders

    @property
    def current(self) -> bool:
        return self.record.try_number == max(self.task.try_number, 1)

    @property
    def started(self) -> bool:
        return self.record.start_date is not None


def not_started(ti: TaskRecord) -> AttemptRecord:
    """The first try of a task that was never queued, as an attempt that has not started."""
    return AttemptRecord(ti.id, 1, ti.state, None, None, None, None, None, None)


def upstream_reason(task_id: str, state: TaskState, rule: str) -> str:
    words = state.value.replace("_", " ")
    return f"upstream {task_id} is {words} (trigger rule {rule})"


def waiting_reasons(
    run: RunRecord,
    ti: TaskRecord,
    spec: TaskSpec | None,
    now: datetime,
    held: Sequence[str] = (),
) -> list[str]:
    """Why the current try of `ti` has not started yet, one sentence per unmet condition;
    `held`: what holds it back once it is ready (the DAG's task limit, its pool)."""
    if ti.state is TaskState.UP_FOR_RETRY:
        if ti.next_try_at is None or ti.next_try_at <= now:
            return [*held] or ["a retry is due: the scheduler queues it on its next pass"]
        seconds = max(0.0, (ti.next_try_at - now).total_seconds())
        return [f"retry {ti.try_number + 1} is scheduled at {ti.next_try_at.isoformat()}"
                f" (in {seconds:.0f} s)"]  # fmt: skip
    if ti.state is TaskState.QUEUED:
        return [queued_reason(ti, now)]
    if ti.state is not TaskState.PENDING:
        return []
    if spec is None:
        return ["waiting for the scheduler (this run's DAG version is no longer stored)"]
    rule = spec.trigger_rule.value
    out = [
        upstream_reason(up, run.tasks[up].state, rule)
        for up in spec.upstream
        if up in run.tasks and run.tasks[up].state not in FINISHED_TASK_STATES
    ]
    return out or [*held] or ["waiting for the scheduler's next pass (its upstream tasks are done)"]


def tasks(n: int) -> str:
    return f"{n} running task" + ("" if n == 1 else "s")


def queued_reason(ti: TaskRecord, now: datetime) -> str:
    """A queued try, with what its executor says about it (a pod the cluster has not placed:
    `core.observations.Waiting.note`, kept in the task's error field while it is queued) and
    for how long, worded as waiting."""
    note = ti.error or ""
    if not note.startswith(WAITING_NOTE):
        return "queued: handed to the executor, waiting for a worker to start"
    since = f" for {age(now - ti.queued_at)}" if ti.queued_at else ""
    return f"queued{since}, not started yet: the executor reports {note[len(WAITING_NOTE) :]}"


def age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def task_limit_reason(dag: DagSpec | None, active: int) -> str | None:
    """Why a ready task waits for its DAG's other tasks: `active` of them are queued or
    running across its runs, as many as `max_active_tasks` allows."""
    if dag is None or active < dag.max_active_tasks:
        return None
    return (
        f"DAG {dag.dag_id} allows {tasks(dag.max_active_tasks)} at once (max_active_tasks) and"
        f" {active} are queued or running: waiting for one of them to finish"
    )


def run_reasons(run: RunRecord, dag: DagSpec | None) -> list[str]:
    """Why the whole run holds its tasks back, if it does."""
    if run.state is not RunState.QUEUED:
        return []
    limit = f" (it allows {dag.max_active_runs} at once)" if dag else ""
    return [f"run {run.run_id} is queued: waiting for the DAG's other active runs{limit}"]


def download_name(run: RunRecord, task_id: str, try_number: int) -> str:
    """`<team>__<dag>__<run>__<task>__try<n>.log`, each id made safe for a file name."""
    parts = (run.team, run.dag_id, run.run_id, task_id)
    return "__".join(layout.encode_part(p) for p in parts) + f"__try{try_number}.log"


class Attempts:
    """The reads behind the attempt resource and page."""

    def __init__(
        self,
        queries: Queries,
        store: Store,
        objects: ObjectStore,
        clock: Clock,
        *,
        mask_env_pattern: str = DEFAULT_ENV_PATTERN,
        pods: Pods | None = None,
    ) -> None:
        self._queries = queries
        self._pods = pods
        self._store = store
        self._objects = objects
        self._clock = clock
        self._pattern = mask_env_pattern

    def list(self, scope: Scope, team: str, dag_id: str, run_id: str, task_id: str) -> Attempt:
        """The task's current try with every try in `tries` (a first try that has not started
        when it was never queued)."""
        return self.get(scope, team, dag_id, run_id, task_id, None)

    def get(
        self, scope: Scope, team: str, dag_id: str, run_id: str, task_id: str, number: int | None
    ) -> Attempt:
        """Try `number` (the current one when None)."""
        run = self._queries.run(scope, team, dag_id, run_id)
        detail = self._queries.task(scope, team, dag_id, run_id, task_id)
        ti = detail.record
        tries = detail.attempts or [not_started(ti)]
        wanted = number or tries[-1].try_number
        record = next((a for a in tries if a.try_number == wanted), None)
        if record is None:
            known = ", ".join(str(a.try_number) for a in tries)
            raise NotFound(f"task {task_id} of run {run_id} has no try {wanted} (tries: {known})")
        dag = self._dag_spec(run)
        spec = dag.tasks.get(task_id) if dag else None
        current = wanted == tries[-1].try_number
        reasons, pool_wait = (
            self._waiting(run, ti, dag, spec) if current and ti.state in WAITING else ([], None)
        )
        waiting = [*reasons]
        pod = None
        if current and ti.state is TaskState.QUEUED and self._pods is not None:
            pod = self._pods(run.team, AttemptRef(ti.id, ti.try_number))
            waiting += pod.lines() if pod is not None else []
        return Attempt(
            run=run,
            task=ti,
            record=record,
            of=(spec.retries + 1) if spec else max(ti.try_number, 1),
            spec=spec,
            return_value=detail.return_value if current else None,
            tries=tries,
            waiting=waiting,
            pod=pod,
            pool_wait=pool_wait,
        )

    def _waiting(
        self, run: RunRecord, ti: TaskRecord, dag: DagSpec | None, spec: TaskSpec | None
    ) -> tuple[Sequence[str], PoolWait | None]:
        """The reasons, and its pool's wait while that is what holds it back."""
        held: Sequence[str] = ()
        wait = None
        if ti.state is not TaskState.QUEUED:  # a queued attempt holds its slots already
            limit = self.task_limit(run, dag)
            wait = self._queries.pools.wait(run.team, spec)
            held = [r for r in (limit, wait.reason if wait else None) if r]
        reasons = run_reasons(run, dag) + waiting_reasons(run, ti, spec, self._clock(), held)
        # Holders matter only while the pool is what it waits for (not its upstream tasks).
        return reasons, wait if wait and wait.reason in reasons else None

    def task_limit(self, run: RunRecord, dag: DagSpec | None) -> str | None:
        """`task_limit_reason` for a run's DAG, its active tasks counted over its runs."""
        if dag is None or run.state is not RunState.RUNNING:
            return None
        active = sum(
            t.state in (TaskState.QUEUED, TaskState.RUNNING)
            for r in self._store.active_runs(run.team)
            if r.dag_id == run.dag_id
            for t in r.tasks.values()
        )
        return task_limit_reason(dag, active)

    def _dag_spec(self, run: RunRecord) -> DagSpec | None:
        found = self._store.get_specs([run.version_id]).get(run.version_id)
        return redact_spec(found[0], self._pattern) if found else None

    def log(self, attempt: Attempt) -> LogFile:
        """The attempt's log by lines; `over` once nothing more will be written."""
        run, ti, number = attempt.run, attempt.task, attempt.record.try_number
        prefix = layout.attempt_prefix(run.team, run.dag_id, run.run_id, ti.task_id, number)
        log = LogFile(self._objects, prefix, over=False)
        if log.complete or not attempt.started:
            log.over = log.complete or ti.state in FINISHED_TASK_STATES
        else:
            now = self._clock()
            log.over = tail.page(
                self._objects, self._store, run, ti, number, log.size, now
            ).finished
        return log

    def raw(self, attempt: Attempt) -> Iterator[bytes]:
        """The stored log's bytes as they are, a block at a time (never the whole log in
        memory)."""
        run, ti, number = attempt.run, attempt.task, attempt.record.try_number
        prefix = layout.attempt_prefix(run.team, run.dag_id, run.run_id, ti.task_id, number)
        offset = 0
        while True:
            data, offset = layout.read(self._objects, prefix, offset, DOWNLOAD_BLOCK)
            if not data:
                return
            yield data
