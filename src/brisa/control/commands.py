"""What people do to DAGs, runs and repositories — trigger, pause, cancel, clear, mark, sync —
in one place, shared by the REST API and the web UI. Handlers stay thin: they parse, call one
command and render what it returns.

What they return is what people may see: secrets redacted (control.redaction).

Every command takes the caller's `Scope` and goes by the same visibility rule as the queries:
acting on a team the caller cannot see answers as if the DAG or run did not exist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from brisa.authoring.params import resolve_conf
from brisa.control import clearing
from brisa.control.audit import AuditTrail
from brisa.control.idempotency import IdempotencyKeys
from brisa.control.queries import (
    DagSummary,
    Scope,
    find_source,
    in_dag_order,
    no_dag,
    no_run,
    summarize,
)
from brisa.control.redaction import Redaction
from brisa.core import webhooks
from brisa.core.records import RunRecord, run_id_for
from brisa.core.states import TaskState
from brisa.errors import Conflict, InvalidInput, NotFound
from brisa.logs.masking import DEFAULT_ENV_PATTERN
from brisa.repos.config import RepoSettings
from brisa.store import Store
from brisa.store.actors import acting_as

# Who the transition record names for the moves people make (no users yet: the API itself).
ACTOR = "api"
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:+=-]{1,250}$")


MAX_NOTE = 2000  # characters of a run's note


def trigger_problems(
    *,
    run_id: str | None,
    logical_date: datetime | None,
    note: str | None,
    now: datetime,
) -> dict[str, str]:
    """What is wrong with a trigger's run id, logical date and note, by field name (empty
    when nothing is). The UI places each message next to its field; `trigger` refuses the
    first. A logical date may not be later than now: a run is about data that exists."""
    problems: dict[str, str] = {}
    if run_id is not None:
        if not _RUN_ID.match(run_id):
            problems["run_id"] = f"run id {run_id!r} may use letters, digits and _ . : + = - only"
        elif run_id in (".", ".."):
            problems["run_id"] = f"run id {run_id!r} is not allowed: '.' and '..' name folders"
    if logical_date is not None:
        if logical_date.tzinfo is None:
            problems["logical_date"] = "logical_date needs a time zone, e.g. 2026-01-01T00:00:00Z"
        else:
            try:
                logical_date.astimezone(UTC)
            except OverflowError:
                problems["logical_date"] = (
                    f"logical_date {logical_date.isoformat()} is out of range in UTC"
                )
            else:
                if logical_date > now:
                    problems["logical_date"] = (
                        f"logical date {logical_date.astimezone(UTC).isoformat()} is in the "
                        f"future (now is {now.astimezone(UTC).isoformat(timespec='seconds')}); "
                        "give a date up to now, or leave it empty for now"
                    )
    if note is not None and len(note) > MAX_NOTE:
        problems["note"] = f"a note is at most {MAX_NOTE} characters ({len(note)} given)"
    return problems


def trigger(
    store: Store,
    team: str,
    dag_id: str,
    *,
    conf: Any,
    now: datetime,
    run_id: str | None = None,
    logical_date: datetime | None = None,
    note: str | None = None,
) -> RunRecord:
    """Create a manual run with validated params. Bad conf, run id, logical date or note:
    InvalidInput, nothing created; a run id that exists: Conflict."""
    dag = store.get_dag(team, dag_id)
    params = resolve_conf(dag.spec.params, conf)
    try:
        json.dumps(params, allow_nan=False)
    except ValueError:
        raise InvalidInput("conf values must be finite JSON numbers (no NaN or Infinity)") from None
    note = (note or "").strip() or None
    problems = trigger_problems(run_id=run_id, logical_date=logical_date, note=note, now=now)
    if problems:
        raise InvalidInput(next(iter(problems.values())))
    logical = (logical_date or now).astimezone(UTC)
    run = store.create_run(
        team=team,
        dag_id=dag_id,
        version_id=dag.version_id,
        run_id=run_id or run_id_for("manual", now),
        run_type="manual",
        logical_date=logical,
        interval=(logical, logical),
        conf=params,
        task_ids=dag.spec.tasks,
        now=now,
        repo=dag.repo,
        code_version=dag.code_version,
    )
    if note:
        store.set_run_note(run.id, note)
    return run


@dataclass(frozen=True)
class Changed:
    """The tasks a command changed, and their run as it is now; `changes`: each task's move
    as planned (control.clearing). A dry run changes nothing: `run` is as it was."""

    task_ids: list[str]
    run: RunRecord
    changes: list[clearing.Change] = field(default_factory=list)
    dry_run: bool = False
    commits: clearing.CommitChoice | None = None  # a clear's: the commits it may run on


class Commands:
    """The actions behind the REST API and the web UI, each for one caller's scope. Every
    change wakes the scheduler."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        wake: Callable[[], None] = lambda: None,
        sources: Sequence[RepoSettings] = (),
        request_sync: Callable[[str], None] = lambda name: None,
        mask_env_pattern: str = DEFAULT_ENV_PATTERN,
    ) -> None:
        self._store = store
        self._shown = Redaction(store, mask_env_pattern)
        self._clock = clock
        self._wake = wake
        self._sources = tuple(sources)
        # Sync a repository now (in-process, or through the store for a separate processor).
        self._request_sync = request_sync
        self._keys = IdempotencyKeys(clock)
        self.audit = AuditTrail(store, clock)
        from brisa.control.pools import Pools  # it builds on queries, as this module does

        self.pools = Pools(store, clock, sources=sources, wake=wake, audit=self.audit)

    def trigger(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        *,
        conf: Any,
        run_id: str | None = None,
        logical_date: datetime | None = None,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> RunRecord:
        """A manual run with validated params (see `trigger`). With an `idempotency_key`, a
        repeat of the same key for the same DAG answers the run the first one created."""
        scope.require(team, no_dag(team, dag_id))
        with self.audit.action(scope, "trigger", team, f"{team}/{dag_id}") as detail:
            made = self._trigger(team, dag_id, conf, run_id, logical_date, note, idempotency_key)
            detail["run_id"] = made if isinstance(made, str) else made.run_id
        # A new run is answered as it was created (queued, every task pending), not as a
        # scheduler woken by its commit may have moved it since; a repeated idempotency key
        # answers the first run as it is now.
        return self._current(team, dag_id, made) if isinstance(made, str) else self._shown_run(made)

    def _trigger(
        self,
        team: str,
        dag_id: str,
        conf: Any,
        run_id: str | None,
        logical_date: datetime | None,
        note: str | None,
        idempotency_key: str | None,
    ) -> RunRecord | str:
        """The new run as created, or the id of the run a repeated key created before."""
        made: list[RunRecord] = []

        def create() -> str:
            run = trigger(
                self._store,
                team,
                dag_id,
                conf=conf,
                run_id=run_id,
                logical_date=logical_date,
                note=note,
                now=self._clock(),
            )
            self._wake()
            made.append(run)
            return run.run_id

        known = (
            create()
            if idempotency_key is None
            else self._keys.once(team, dag_id, idempotency_key, create)
        )
        return made[0] if made else known

    def trigger_problems(
        self, *, run_id: str | None, logical_date: datetime | None, note: str | None
    ) -> dict[str, str]:
        """What `trigger` would refuse in these fields, by field name (see `trigger_problems`)."""
        return trigger_problems(
            run_id=run_id, logical_date=logical_date, note=note, now=self._clock()
        )

    def pause(self, scope: Scope, team: str, dag_id: str, paused: bool) -> DagSummary:
        """Pause a DAG (no new scheduled runs; running ones go on) or unpause it."""
        action = "pause" if paused else "unpause"
        scope.require(team, no_dag(team, dag_id))
        with self.audit.action(scope, action, team, f"{team}/{dag_id}"):
            record = self._store.set_paused(team, dag_id, paused)
        self._wake()
        return summarize(self._store, [self._shown.dag(record)], self._clock())[0]

    def _run(self, scope: Scope, team: str, dag_id: str, run_id: str) -> RunRecord:
        scope.require(team, no_run(team, dag_id, run_id))
        return self._store.get_run(team, dag_id, run_id)

    def _current(self, team: str, dag_id: str, run_id: str) -> RunRecord:
        """The run as it is after a command as people see it: tasks in their DAG's order,
        secrets redacted."""
        return self._shown_run(self._store.get_run(team, dag_id, run_id))

    def _shown_run(self, run: RunRecord) -> RunRecord:
        run = in_dag_order(self._store, run)
        return self._shown.run(replace(run, note=self._store.run_note(run.id)))

    def cancel(self, scope: Scope, team: str, dag_id: str, run_id: str) -> RunRecord:
        """Cancel a queued or running run; Conflict if it has already finished."""
        scope.require(team, no_run(team, dag_id, run_id))
        with self.audit.action(scope, "cancel_run", team, f"{team}/{dag_id}/{run_id}"):
            run = self._run(scope, team, dag_id, run_id)
            with acting_as(ACTOR):
                cancelled = self._store.cancel_run(run, self._clock())
            if not cancelled:
                current = self._store.get_run_by_pk(run.id).state
                raise Conflict(
                    f"run {run.run_id} is already {current}; only queued or running runs can "
                    "be cancelled"
                )
        self._wake()
        return self._current(team, dag_id, run_id)

    def cancel_preview(self, scope: Scope, team: str, dag_id: str, run_id: str) -> Changed:
        """What cancelling the run would change (the dry run of `cancel`): its unfinished
        tasks end cancelled; `clearing.killed` names those whose worker is stopped."""
        run = self._run(scope, team, dag_id, run_id)
        changes = clearing.plan_cancel(in_dag_order(self._store, run))
        return Changed([c.task_id for c in changes], self._shown.run(run), changes, True)

    def clear(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        run_id: str,
        task_ids: Iterable[str],
        *,
        downstream: bool,
        options: clearing.ClearOptions | None = None,
        dry_run: bool = False,
    ) -> Changed:
        """Run tasks again (optionally with everything downstream of them), on the run's code,
        or with `options.commit` "latest" on the DAG's latest commit (the run is re-pinned to
        it). `options` (the UI's clear dialog) overrides `downstream`; with dry_run nothing
        changes and the answer lists what would."""
        scope.require(team, no_run(team, dag_id, run_id))
        action = None if dry_run else "clear"
        with self._audited(scope, action, team, f"{team}/{dag_id}/{run_id}") as detail:
            run = self._run(scope, team, dag_id, run_id)
            options = options or clearing.ClearOptions(downstream=downstream)
            commits, pin, edges = self._commits(run, options.commit)
            changes = clearing.plan_clear(in_dag_order(self._store, run), edges, task_ids, options)
            if dry_run:
                shown = self._shown.run(run)
                return Changed([c.task_id for c in changes], shown, changes, True, commits)
            named = clearing.known_tasks(run, task_ids)
            with acting_as(ACTOR):
                cleared = self._store.clear_tasks(
                    run, named | {c.task_id for c in changes}, self._clock(), pin=pin
                )
            detail.update(tasks=sorted(cleared), asked=sorted(named), options=vars(options))
            if pin is not None:
                detail["commit"] = pin[1]
        self._wake()
        return Changed(cleared, self._current(team, dag_id, run_id), changes, commits=commits)

    def _commits(
        self, run: RunRecord, commit: str
    ) -> tuple[clearing.CommitChoice, tuple[int, str] | None, dict[str, tuple[str, ...]]]:
        """The commits a clear of `run` may run on, the pin for `commit` ("run": none) and
        the DAG edges the clear follows (the latest version's when re-pinning)."""
        if commit not in clearing.COMMITS:
            raise InvalidInput(f"commit must be 'run' or 'latest', not {commit!r}")
        try:
            dag = self._store.get_dag(run.team, run.dag_id)
        except NotFound:  # the DAG is gone from its repository: its run keeps its commit
            choice = clearing.CommitChoice(run.code_version)
        else:
            choice = clearing.commit_choice(run, dag)
        if commit == "run" or choice.latest is None or choice.latest_version is None:
            return choice, None, self._edges(run)
        if choice.unavailable:
            raise InvalidInput(choice.unavailable)
        spec = dag.spec
        edges = {tid: t.upstream for tid, t in spec.tasks.items()}
        return choice, (choice.latest_version, choice.latest), edges

    def mark(
        self,
        scope: Scope,
        team: str,
        dag_id: str,
        run_id: str,
        task_ids: Iterable[str],
        state: str,
        *,
        dry_run: bool = False,
    ) -> Changed:
        """Set tasks to success or failed by hand (with dry_run: say which would change).
        Marking success also clears the tasks' upstream_failed descendants, so they run."""
        scope.require(team, no_run(team, dag_id, run_id))
        action = None if dry_run or state not in ("success", "failed") else f"mark_{state}"
        with self._audited(scope, action, team, f"{team}/{dag_id}/{run_id}") as detail:
            run = self._run(scope, team, dag_id, run_id)
            changes = clearing.plan_mark(
                in_dag_order(self._store, run), task_ids, state, self._edges(run)
            )
            if dry_run:
                return Changed([c.task_id for c in changes], self._shown.run(run), changes, True)
            resets = [c.task_id for c in changes if c.new_state is TaskState.PENDING]
            with acting_as(ACTOR):
                changed = self._store.mark_tasks(run, task_ids, TaskState(state), self._clock())
                if resets and changed:
                    self._store.clear_tasks(run, resets, self._clock())
            detail.update(tasks=sorted(changed), reset=sorted(resets) if changed else [])
        self._wake()
        return Changed(changed, self._current(team, dag_id, run_id), changes)

    def _audited(
        self, scope: Scope, action: str | None, team: str, target: str
    ) -> AbstractContextManager[dict[str, Any]]:
        """The audit record around an action (none for a dry run: `action` None)."""
        if action is None:
            return nullcontext({})
        return self.audit.action(scope, action, team, target)

    def _edges(self, run: RunRecord) -> dict[str, tuple[str, ...]]:
        """Each task's upstream tasks in the run's own DAG version."""
        found = self._store.get_specs([run.version_id]).get(run.version_id)
        return {tid: t.upstream for tid, t in found[0].tasks.items()} if found else {}

    def request_sync(
        self, scope: Scope, name: str, body: bytes, headers: Mapping[str, str]
    ) -> datetime:
        """Ask for a git repository to be synced now; returns when it was asked. When the
        repository has a webhook_secret, only a request signed with it (GitHub or GitLab
        style) is accepted; the body is otherwise ignored."""
        source = find_source(self._sources, scope, name)
        with self.audit.action(scope, "sync_now", source.owner, name):
            if not source.is_git:
                raise InvalidInput(
                    f"repository {name} is a folder; nothing to sync (its files are read "
                    "again every [dags] scan_interval)"
                )
            if source.webhook_secret:
                webhooks.verify(source.webhook_secret, body, headers)
            requested_at = self._clock()
            self._request_sync(name)
        return requested_at
