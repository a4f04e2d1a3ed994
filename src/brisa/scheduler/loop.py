"""The scheduler loop: snapshot -> plan -> apply, woken by events, polling as a fallback.

All decisions are in `planner.plan`; this module loads the snapshot, applies the actions with
the store's guarded verbs and tells the executor what to start and stop.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from brisa.core import tokens
from brisa.core.planner import (
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
    judging_from,
    plan,
)
from brisa.core.records import AttemptRef, DagRecord, RunRecord, TaskRecord, run_id_for
from brisa.core.runview import RunViews
from brisa.core.spec import DagSpec
from brisa.errors import Conflict
from brisa.executor.base import Attempt, Executor, LaunchRequest, Observed
from brisa.logs.masking import DEFAULT_ENV_PATTERN, Masker, env_secrets, param_secrets
from brisa.logs.recovery import executor_file_name
from brisa.metrics.instruments import SchedulerMetrics, unregistered
from brisa.scheduler import runcache
from brisa.scheduler.ha import LeaseKeeper
from brisa.scheduler.runcache import ActiveRuns
from brisa.store import Store
from brisa.store.actors import acting_as
from brisa.store.fencing import Fence, fenced_by
from brisa.store.queueing import QueueItem, RunMove
from brisa.store.reading import reading
from brisa.worker.warmed import WarmKey

log = logging.getLogger("brisa.scheduler")
# The actions that write to the store (the others tell the executor): when one changes
# nothing and the lease is lost, it was fenced.
WRITES = (CreateRun, SetRunState, SetTaskState, QueueTask, StartAttempt)


def worth_following(actions: list[Action], done: list[bool]) -> bool:
    """Whether a pass that applied `actions` (`done`: which took effect) may have made work
    for another pass at once. Queueing a task only takes capacity (a slot, a pool slot, a
    worker): it readies nothing that pass did not already plan, so a pass that did nothing
    else waits for the next wake-up (an attempt ending, a trigger) or the poll interval,
    instead of costing a second, empty pass per attempt (ADR 0026). Nor does starting a run
    whose tasks were all planned with it (`SetRunState.planned`, ADR 0037)."""
    return any(
        ok and not isinstance(a, QueueTask) and not (isinstance(a, SetRunState) and a.planned)
        for a, ok in zip(actions, done, strict=True)
    )


Clock = Callable[[], datetime]


def awake_seconds() -> float:
    """A clock of seconds that never goes back and keeps counting while this process is
    stopped and while the machine sleeps (CLOCK_BOOTTIME; where there is none, the monotonic
    clock, which may not count a sleep)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


class Scheduler:
    def __init__(
        self,
        store: Store,
        executor: Executor,
        *,
        clock: Clock,
        logs_folder: Path,
        limits: Limits,
        poll_interval: float = 1.0,
        awake: Callable[[], float] = awake_seconds,
        warm_key: Callable[[RunRecord, DagSpec], WarmKey | None] | None = None,
        describe_attempts: bool = False,
        keeper: LeaseKeeper | None = None,
        sees_every_host: bool = False,
        metrics: SchedulerMetrics | None = None,
        mask_env_pattern: str = DEFAULT_ENV_PATTERN,
        queue_batch: int = 256,
    ) -> None:
        self.store = store
        self.queue_batch = queue_batch  # most tasks queued by one pass (one transaction)
        self.mask_env_pattern = mask_env_pattern  # results read by the executor are masked
        self.metrics = metrics or unregistered().scheduler
        self.executor = executor
        self.clock = clock
        self.logs_folder = logs_folder
        self.limits = limits
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._specs: dict[int, DagSpec] = {}
        # What a run's attempts will run, handed to the executor with each launch so that it
        # may fork their workers from a warm import of the file (ADR 0014); None: never.
        self.warm_key = warm_key
        self._runs: dict[int, RunRecord] = {}
        # Hand each launch what its attempt is (`Attempt`): for executors that name pods
        # after it; the local executor needs only the attempt's ids.
        self.describe_attempts = describe_attempts
        self._tasks: dict[int, tuple[RunRecord, str]] = {}
        # The gaps between passes on this clock tell a pause of the whole process (the
        # wall clock may be stepped; the heartbeats are wall times).
        self.awake = awake
        self._judging_since = clock()
        self._last_pass: float | None = None
        # Several schedulers (ADR 0019): this one's leases, the attempts it adopted (and
        # when), and whether its executor sees workers of every host (pods) or only its own.
        self.keeper = keeper
        self.sees_every_host = sees_every_host
        self._adopted: dict[int, datetime] = {}
        self.fenced_writes = 0  # writes refused because the lease was lost (counted)
        self._lost_checked: float | None = None  # when lost schedulers were last looked for
        self._pools_synced = False
        # The active runs, re-read where the change outbox says they changed (ADR 0022).
        self.active = ActiveRuns(store)
        self._scheduled: list[DagRecord] = []  # DAGs with a schedule, not paused
        self._stamp: list[tuple[object, ...]] | None = None  # of the catalog they come from
        self._views = RunViews()  # what the planner looks at in each run, per run record
        self._follow = False  # whether the last pass may have made work for one at once
        self._fence: Fence | None = None  # of the current pass, when leases are kept

    def wake(self) -> None:
        """Ask for a scheduling pass now (an attempt ended, a run was triggered, ...)."""
        self._wake.set()

    def snapshot(self) -> Snapshot:
        now = self.clock()
        judging_since = self._judge_since()
        alive = self.executor.alive()
        observed = self.executor.observe()  # before the store: a worker reports, then exits
        self._sync_pools(now)
        with reading(self.store.reader):  # one connection, one snapshot (SQLite)
            return self._read(now, judging_since, alive, observed)

    def _read(
        self, now: datetime, judging: datetime, alive: frozenset[AttemptRef], observed: Observed
    ) -> Snapshot:
        """The snapshot's reads of the store, and what the planner is handed."""
        # The outbox, the catalog's stamp and the pool book in one round trip (ADR 0038).
        reads = self.store.pass_reads(self.active.wanted(), limit=runcache.LIMIT)
        runs = self.active.refresh(reads.changes)
        self._runs = {run.id: run for run in runs}
        self._tasks = {}  # built from these runs by the first launch that needs it
        missing = {r.version_id for r in runs} - set(self._specs)
        self._specs.update({vid: spec for vid, (spec, _) in self.store.get_specs(missing).items()})
        stamp = reads.stamp
        if stamp != self._stamp:  # listed again only when the catalog changed
            self._stamp = stamp
            listed = self.store.list_dags()
            self._scheduled = [
                d for d in listed if d.spec.schedule.kind != "manual" and not d.is_paused
            ]
        state = self.store.schedule_state() if self._scheduled else {}
        dags = [DagSchedule(d, *state.get((d.team, d.dag_id), (None, 0))) for d in self._scheduled]
        stray_ids = {r.ti_id for r in (*alive, *observed.endings) if not self.active.knows(r.ti_id)}
        stray = list(self.store.tasks_by_id(stray_ids).values())
        others, adopted, unseen = self._ownership(self.active.open_tasks())
        self._views.keep(set(self._runs))
        return Snapshot(
            now=now,
            dags=dags,
            runs=runs,
            specs=self._specs,
            alive=alive,
            free_slots=min(self.executor.parallelism - len(alive), self.queue_batch),
            stray=stray,
            limits=self.limits,
            judging_since=judging,
            observed=observed,
            others=others,
            adopted=adopted,
            unseen=unseen,
            pools=reads.pools,
            views=self._views,
        )

    def _ownership(
        self, tasks: list[TaskRecord]
    ) -> tuple[frozenset[int], dict[int, datetime], frozenset[int]]:
        """Which open attempts another scheduler supervises, which this one adopted (and
        when), and which of those its executor cannot see (another host's workers)."""
        if self.keeper is None:
            return frozenset(), {}, frozenset()
        me = self.keeper.holder
        open_tasks = [ti for ti in tasks if ti.state in ("queued", "running")]
        others = frozenset(ti.id for ti in open_tasks if ti.owner not in (None, me))
        mine = {ti.id for ti in open_tasks if ti.owner == me}
        self._adopted = {i: at for i, at in self._adopted.items() if i in mine}
        # A local executor sees the workers of its own host and home only; an adopted
        # attempt's may run under another (a scheduler with another home, another machine).
        unseen = frozenset() if self.sees_every_host else frozenset(self._adopted)
        return others, dict(self._adopted), unseen

    def _sync_pools(self, now: datetime) -> None:
        """On the first pass, the default pools sized by the settings are brought to their
        configured size (before the pool book is read)."""
        if not self._pools_synced:
            self.store.sync_default_pools(now)
            self._pools_synced = True

    def _judge_since(self) -> datetime:
        """Since when workers are judged (`judging_from`): from the resume after a pause."""
        awake = self.awake()
        gap = None if self._last_pass is None else awake - self._last_pass
        self._last_pass = awake
        # The wall clock is read after the gap: a pause that begins between the two reads
        # still moves the count to after it.
        since = judging_from(
            self._judging_since,
            gap=gap,
            expected=self.poll_interval,
            now=self.clock(),
            limits=self.limits,
        )
        if since != self._judging_since:
            log.warning(
                "the scheduler was paused (%.1fs since its previous pass): workers' heartbeats, "
                "start-ups and exits are judged from now on, as after a restart",
                gap,
            )
            self._judging_since = since
        return since

    def run_once(self) -> int:
        """One pass: returns how many actions took effect. With leases, the pass acts only
        while this scheduler holds its lease, and its writes are fenced by it."""
        if self.keeper is None:
            with acting_as("scheduler"):
                return self._pass(None)
        fence = self.keeper.fence()
        if fence is None and self.keeper.renew():
            fence = self.keeper.fence()
        if fence is None:
            return 0  # self-fenced: not renewed in time, and not renewable now
        self._fence = fence  # what this pass's launches are decided under
        with fenced_by(fence), acting_as(fence.lease, fence.epoch):
            self._adopt(fence)
            return self._pass(fence)

    def _pass(self, fence: Fence | None) -> int:
        with self.metrics.scheduling_pass() as record:
            snapshot = self.snapshot()
            actions = plan(snapshot)
            done = self._apply_all(actions)
            record(actions, done, slots=(self.executor.parallelism, len(snapshot.alive)))
        self._follow = worth_following(actions, done)
        refused = sum(not ok and isinstance(a, WRITES) for a, ok in zip(actions, done, strict=True))
        if fence is not None and refused and not self.store.lease_holds(fence):
            self.fenced_writes += refused
            log.warning(
                "fenced, re-acquiring: lease %s lost during a pass; %d of its writes changed "
                "nothing",
                fence.lease,
                refused,
            )
            with contextlib.suppress(Exception):
                assert self.keeper is not None
                self.keeper.renew()
        return sum(done)

    def _adopt(self, fence: Fence) -> None:
        """Take over the open attempts of schedulers whose lease is lost: looked for once per
        poll interval, not on every pass (a lease is lost after seconds, passes come in ms)."""
        assert self.keeper is not None
        now_awake = self.awake()
        if self._lost_checked is not None and now_awake - self._lost_checked < self.poll_interval:
            return
        self._lost_checked = now_awake
        for lost in self.keeper.lost():
            adopted = self.store.adopt(lost.lease, fence, dead_here=lost.dead_here)
            why = "its process is gone" if lost.dead_here else "its lease expired"
            log.warning(
                "scheduler %s is lost (%s): adopted %d of its attempts",
                lost.lease.holder,
                why,
                len(adopted),
            )
            now = self.clock()
            self._adopted.update({ti_id: now for ti_id in adopted})

    def _apply_all(self, actions: list[Action]) -> list[bool]:
        """Apply a pass's actions: one by one, but the run moves and the queued tasks in one
        transaction (`Store.write_pass`), after the others.
        Returns whether each took effect, in the order of `actions`."""
        done = [False] * len(actions)
        moves: dict[int, SetRunState] = {}
        queue: dict[int, QueueTask] = {}
        for i, action in enumerate(actions):
            if isinstance(action, SetRunState):
                moves[i] = action
            elif isinstance(action, QueueTask):
                queue[i] = action
            else:
                done[i] = self._apply(action)
        runs = [RunMove(a.run_pk, a.state, a.expected) for a in moves.values()]
        moved, queued = self._write(runs, list(queue.values()), self.clock())
        for i, move in moves.items():
            done[i] = move.run_pk in moved
        for i, action in queue.items():
            done[i] = action.ti_id in queued
        return done

    def _apply(self, action: Action) -> bool:
        now = self.clock()
        if isinstance(action, CreateRun):
            try:
                self.store.create_run(
                    team=action.team,
                    dag_id=action.dag_id,
                    version_id=action.version_id,
                    run_id=run_id_for("scheduled", action.logical_date),
                    run_type="scheduled",
                    logical_date=action.logical_date,
                    interval=action.interval,
                    conf=action.conf,
                    task_ids=action.task_ids,
                    now=now,
                    repo=action.repo,
                    code_version=action.code_version,
                )
            except Conflict:
                return False
            return True
        if isinstance(action, SetTaskState):
            done = self.store.set_task_state(
                action.ti_id,
                action.state,
                expected=action.expected,
                try_number=action.try_number,
                now=now,
                next_try_at=action.next_try_at,
                error=action.error,
                retry_base=action.retry_base,
                return_value=self._masked(action.ti_id, action.return_value),
            )
            if done and action.kill:
                self.executor.kill(AttemptRef(action.ti_id, action.try_number))
            return done
        if isinstance(action, Relaunch):
            self._relaunch(action)
            return False
        if isinstance(action, Kill):
            self.executor.kill(action.ref)
            return False
        return self._apply_observed(action, now)

    def _apply_observed(self, action: Action, now: datetime) -> bool:
        """The actions on what the executor observed (`core.observations`)."""
        if isinstance(action, StartAttempt):
            return self.store.start_supervised(action.ref, hostname=action.hostname, now=now)
        if isinstance(action, NoteWaiting):
            self.store.note_waiting(action.ref, action.note)
            return False
        if isinstance(action, Release):
            self.executor.release(action.ref)
            return False
        raise AssertionError(f"unknown action {action}")

    def _write(
        self, runs: list[RunMove], batch: list[QueueTask], now: datetime
    ) -> tuple[set[int], set[int]]:
        """Move the runs and queue the batch in one transaction, then launch the tasks that
        were queued, each with the new try's token (stored with it, hashed)."""
        issued = {a.ti_id: tokens.issue(AttemptRef(a.ti_id, a.try_number + 1)) for a in batch}
        items = [
            QueueItem(a.ti_id, a.expected, a.try_number, issued[a.ti_id].digest, a.pool, a.run_pk)
            for a in batch
        ]
        moved, queued = self.store.write_pass(runs, items, now)
        for action in batch:
            if action.ti_id in queued:
                ref = AttemptRef(action.ti_id, action.try_number + 1)
                token = issued[action.ti_id].token
                self._launch(ref, token, action.timeout, self._warm(action.run_pk))
        return moved, queued

    def _task(self, ti_id: int) -> tuple[RunRecord, DagSpec, str] | None:
        """The run, DAG version and task id of a task instance of this pass's snapshot."""
        if not self._tasks:
            self._tasks = {
                ti.id: (run, ti.task_id) for run in self._runs.values() for ti in run.tasks.values()
            }
        run, task_id = self._tasks.get(ti_id, (None, ""))
        spec = self._specs.get(run.version_id) if run is not None else None
        if run is None or spec is None or task_id not in spec.tasks:
            return None
        return run, spec, task_id

    def _attempt(self, ref: AttemptRef) -> Attempt | None:
        """What the attempt is, from this pass's snapshot (None if it is not in it)."""
        found = self._task(ref.ti_id)
        if found is None:
            return None
        run, spec, task_id = found
        return Attempt(
            team=run.team,
            dag_id=run.dag_id,
            run_id=run.run_id,
            task_id=task_id,
            task=spec.tasks[task_id],
            logical_date=run.logical_date,
            data_interval=(run.data_interval_start, run.data_interval_end),
            params=run.conf,
            repo=run.repo,
            code_version=run.code_version,
        )

    def _masked(self, ti_id: int, value: Any) -> Any:
        """A result the executor read (a container task's), masked as a worker masks its
        return value: the run's secret params, the task's env values named like secrets."""
        found = self._task(ti_id) if value is not None else None
        if found is None:
            return value
        run, spec, task_id = found
        task = spec.tasks[task_id]
        env = {**(task.pod.env if task.pod is not None else {}), **getattr(task.body, "env", {})}
        secrets = param_secrets(run.conf, spec.secret_params())
        return Masker(secrets + env_secrets(env, self.mask_env_pattern)).mask_json(value)

    def _relaunch(self, action: Relaunch) -> None:
        # A new token for the new worker, which voids the one an earlier launch handed out
        # (maybe by a scheduler that has since restarted, so known to no one here): if that
        # worker starts after all, it is refused before it runs any user code.
        issued = tokens.issue(action.ref)
        if self.store.set_token(action.ref, issued.digest):
            self._launch(action.ref, issued.token, action.timeout, relaunch=True)

    def _warm(self, run_pk: int) -> WarmKey | None:
        run = self._runs.get(run_pk)
        spec = self._specs.get(run.version_id) if run is not None else None
        if self.warm_key is None or run is None or spec is None:
            return None
        return self.warm_key(run, spec)

    def _launch(
        self,
        ref: AttemptRef,
        token: str,
        timeout: float | None,
        warm: WarmKey | None = None,
        *,
        relaunch: bool = False,
    ) -> None:
        # The worker ships its log to the object store itself; this local file only keeps
        # what it prints before shipping starts (or if it cannot start at all).
        path = self.logs_folder / executor_file_name(ref.ti_id, ref.try_number)
        attempt = self._attempt(ref) if self.describe_attempts else None
        request = LaunchRequest(ref, token, path, timeout, warm, attempt, relaunch, self._fence)
        self.executor.launch(request)

    def follow_changes(self, stop: threading.Event) -> None:
        """Wake a pass when another process changed something (a worker reported to an API
        replica, a user triggered a run, another scheduler finished a task): a hint on
        PostgreSQL only (NOTIFY); the loop still polls."""
        if self.store.backend != "postgresql":
            return
        waiter = self.store.change_waiter()
        try:
            while not stop.is_set():
                if waiter.wait(self.poll_interval):
                    self.wake()
        finally:
            waiter.close()

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until `stop` is set; a pass that changed more than the queue
        (`worth_following`) is followed at once."""
        while not stop.is_set():
            self._wake.clear()
            self._follow = False
            try:
                changed = self.run_once()
            except Exception:
                log.exception("scheduling pass failed; retrying")
                self.active.forget()  # read everything again: the failure may be anywhere
                changed = 0
            if not (changed and self._follow):
                self._wake.wait(self.poll_interval)
