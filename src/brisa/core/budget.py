"""What one planning pass may still start: executor slots, runs and tasks per DAG, and the
free slots of each pool (`brisa.core.pools.PoolBudget`)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from brisa.core.pools import PoolBudget, PoolClaim, pool_of
from brisa.core.records import RunRecord
from brisa.core.spec import DagSpec, TaskSpec
from brisa.core.states import RunState, TaskState

if TYPE_CHECKING:
    from brisa.core.decisions import Action, Snapshot


class Budget:
    """Concurrency left in this iteration: executor slots, runs and tasks per DAG, pools."""

    def __init__(
        self, snapshot: Snapshot, active_tasks: Counter[tuple[str, str]] | None = None
    ) -> None:
        """`active_tasks`: the queued and running tasks per DAG, when the caller has counted
        them already (else counted from the snapshot's runs)."""
        self.slots = snapshot.free_slots
        self.running_runs: Counter[tuple[str, str]] = Counter(
            (r.team, r.dag_id) for r in snapshot.runs if r.state is RunState.RUNNING
        )
        if active_tasks is None:
            active_tasks = Counter(
                (r.team, r.dag_id)
                for r in snapshot.runs
                for t in r.tasks.values()
                if t.state in (TaskState.QUEUED, TaskState.RUNNING)
            )
        self.active_tasks = active_tasks
        self.pools = PoolBudget(snapshot.pools)

    def start_run(self, run: RunRecord, spec: DagSpec) -> list[Action]:
        from brisa.core.planner import SetRunState

        key = (run.team, run.dag_id)
        if self.running_runs[key] >= spec.max_active_runs:
            return []
        self.running_runs[key] += 1
        return [SetRunState(run.id, RunState.RUNNING, expected=run.state)]

    def take_task(self, run: RunRecord, spec: DagSpec, task: TaskSpec) -> PoolClaim | None:
        """The pool slots the task takes if it may be queued now, else None (it waits)."""
        key = (run.team, run.dag_id)
        if self.slots <= 0 or self.active_tasks[key] >= spec.max_active_tasks:
            return None
        claim = PoolClaim(run.team, pool_of(task), task.pool_slots)
        if not self.pools.take(claim.team, claim.name, claim.slots):
            return None
        self.slots -= 1
        self.active_tasks[key] += 1
        return claim
