"""Pools as people see and change them (REST, CLI, web UI): a team's pools with their usage
and the tasks waiting for a slot, setting and deleting a pool, and why a ready task waits.

Teams have no table of their own yet: a team exists when a DAG source is configured for it
(`[dags] team`, `[repos.NAME] team`), or it has DAGs or pools stored.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from brisa.control.audit import AuditTrail
from brisa.control.queries import Scope
from brisa.core import pools as core
from brisa.core.pools import Pool, WaitingTask
from brisa.core.records import RunRecord
from brisa.core.spec import DagSpec, TaskSpec
from brisa.errors import NotFound
from brisa.repos.config import RepoSettings
from brisa.store import Store

MAX_LISTED = 100  # waiting tasks and holders one pool's detail lists


@dataclass(frozen=True)
class PoolDetail:
    """One pool with the tasks holding its slots and the tasks ready to run that wait in it
    (each list cut at MAX_LISTED; `pool.waiting` counts them all)."""

    pool: Pool
    holders: list[dict[str, Any]]
    waiting: list[WaitingTask]


@dataclass(frozen=True)
class PoolWait:
    """Why a ready task does not start because of its pool, and the attempts holding the
    slots it waits for (none when no task finishing would free it: a pool that does not exist
    or is smaller than the task)."""

    pool: str
    reason: str
    holders: list[dict[str, Any]]  # team, dag_id, run_id, task_id, try_number, state, slots


class Pools:
    """Reads and changes of pools, for one caller's scope at a time."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        *,
        sources: Sequence[RepoSettings] = (),
        wake: Callable[[], None] = lambda: None,
        audit: AuditTrail | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._sources = tuple(sources)
        self._wake = wake
        self._audit = audit or AuditTrail(store, clock)

    def teams(self, scope: Scope) -> list[str]:
        """The teams there are that the caller sees, sorted."""
        known = {s.owner for s in self._sources} | self._store.pool_teams()
        return sorted(t for t in known if scope.sees(t))

    def _require_team(self, scope: Scope, team: str) -> None:
        teams = self.teams(scope)
        if team not in teams:
            raise NotFound(
                f"no team {team!r}; the teams are: {', '.join(teams) or 'none'} (a team exists "
                "once a DAG source is configured for it: [dags] team or [repos.NAME] team)"
            )

    def _waiting(self, team: str) -> list[WaitingTask]:
        runs = self._store.active_runs(team)
        found = self._store.get_specs({r.version_id for r in runs})
        specs = {vid: spec for vid, (spec, _) in found.items()}
        return core.ready_tasks(runs, specs, self._clock())

    def list(self, scope: Scope, team: str) -> list[Pool]:
        """A team's pools, its default pool first, each with how many tasks wait in it;
        pools that tasks name but that do not exist are left out (see `missing`)."""
        self._require_team(scope, team)
        waiting = Counter(w.pool for w in self._waiting(team))
        return [
            dataclasses.replace(p, waiting=waiting[p.name]) for p in self._store.list_pools(team)
        ]

    def missing(self, scope: Scope, team: str) -> dict[str, int]:
        """Pools that ready tasks of the team name but that do not exist: tasks by pool."""
        self._require_team(scope, team)
        names = {p.name for p in self._store.list_pools(team)}
        return dict(Counter(w.pool for w in self._waiting(team) if w.pool not in names))

    def get(self, scope: Scope, team: str, name: str) -> PoolDetail:
        self._require_team(scope, team)
        pool = self._store.get_pool(team, name)
        waiting = [w for w in self._waiting(team) if w.pool == name]
        holders = self._store.pool_holders(team, name)[:MAX_LISTED]
        pool = dataclasses.replace(pool, waiting=len(waiting))
        return PoolDetail(pool, holders, waiting[:MAX_LISTED])

    def set(
        self, scope: Scope, team: str, name: str, *, slots: int, description: str | None
    ) -> Pool:
        """Create or resize a pool (and describe it); the scheduler is woken, as tasks that
        waited for it may start now."""
        self._require_team(scope, team)
        with self._audit.action(scope, "pool_set", team, f"{team}/{name}") as detail:
            core.check_name(name)
            core.check_slots(slots)
            detail["slots"] = slots
            pool = self._store.set_pool(
                team, name, slots=slots, description=description, now=self._clock()
            )
        self._wake()
        return pool

    def delete(self, scope: Scope, team: str, name: str) -> None:
        """Delete a pool (the default pool goes back to its size from the settings)."""
        self._require_team(scope, team)
        with self._audit.action(scope, "pool_delete", team, f"{team}/{name}"):
            self._store.delete_pool(team, name, self._clock())
        self._wake()

    def ready_wait(self, run: RunRecord, spec: DagSpec | None, task_id: str) -> PoolWait | None:
        """`wait` for a task of a run when it is ready to run, else None (it waits for its
        upstream tasks, or it is queued or running already)."""
        if spec is None or task_id not in spec.tasks or task_id not in run.tasks:
            return None
        ready = core.ready_tasks([run], {run.version_id: spec}, self._clock())
        if not any(w.task_id == task_id for w in ready):
            return None
        return self.wait(run.team, spec.tasks[task_id])

    def wait(self, team: str, task: TaskSpec | None) -> PoolWait | None:
        """Why a task that is ready to run does not start because of its pool, with the
        attempts holding the pool's slots (None: its pool has room for it, or the task's spec
        is gone)."""
        if task is None:
            return None
        name = core.pool_of(task)
        pool = self._store.pool_book().get(team, name)
        reason = core.pool_reason(team, name, pool, task.pool_slots)
        if reason is None:
            return None
        full = pool is not None and task.pool_slots <= pool.slots
        holders = self._store.pool_holders(team, name)[:MAX_LISTED] if full else []
        return PoolWait(name, reason, holders)
