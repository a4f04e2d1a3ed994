"""What operators do to runs: cancel a run, clear tasks to run again, mark tasks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from brisa.core.records import RunRecord
from brisa.core.states import FINISHED_RUN_STATES, RunState, TaskState, task_sources
from brisa.errors import InvalidInput
from brisa.store.engine import WRITE
from brisa.store.tables import dag_runs, task_attempts, task_instances


def _reopen_run(conn: sa.Connection, run: RunRecord) -> None:
    # Guarded by the stored state, not the caller's record: the run may have finished since it
    # was read, and a finished run with pending tasks would never be scheduled again.
    conn.execute(
        dag_runs.update()
        .where(dag_runs.c.id == run.id, dag_runs.c.state.in_(list(FINISHED_RUN_STATES)))
        .values(state=RunState.RUNNING, end_date=None)
    )


def _check_tasks(run: RunRecord, task_ids: Iterable[str]) -> list[str]:
    ids = sorted(set(task_ids))
    unknown = [t for t in ids if t not in run.tasks]
    if unknown:
        raise InvalidInput(
            f"run {run.run_id} has no task(s) {', '.join(unknown)}; "
            f"its tasks are: {', '.join(sorted(run.tasks))}"
        )
    return ids


class OperationsStore:
    engine: sa.Engine

    def cancel_run(self, run: RunRecord, now: datetime) -> bool:
        """Cancel a queued or running run and every unfinished task of it."""
        with self.engine.execution_options(**WRITE).begin() as conn:
            done = conn.execute(
                dag_runs.update()
                .where(
                    dag_runs.c.id == run.id,
                    dag_runs.c.state.in_([RunState.QUEUED, RunState.RUNNING]),
                )
                .values(state=RunState.CANCELLED, end_date=now)
            ).rowcount
            if done:
                conn.execute(
                    task_instances.update()
                    .where(
                        task_instances.c.run_pk == run.id,
                        task_instances.c.state.in_(
                            [s.value for s in task_sources(TaskState.CANCELLED)]
                        ),
                    )
                    .values(state=TaskState.CANCELLED, end_date=now, next_try_at=None)
                )
                conn.execute(
                    task_attempts.update()
                    .where(
                        task_attempts.c.ti_id.in_(
                            sa.select(task_instances.c.id).where(task_instances.c.run_pk == run.id)
                        ),
                        task_attempts.c.state.in_([TaskState.QUEUED, TaskState.RUNNING]),
                    )
                    .values(state=TaskState.CANCELLED, end_date=now, error="run cancelled")
                )
            return bool(done)

    def clear_tasks(self, run: RunRecord, task_ids: Iterable[str], now: datetime) -> list[str]:
        """Put tasks back to pending so they run again (new tries); reopens a finished run.

        A running task is stopped first: its worker loses its token's validity at once.
        """
        ids = _check_tasks(run, task_ids)
        with self.engine.execution_options(**WRITE).begin() as conn:
            for tid in ids:
                ti = run.tasks[tid]
                if ti.state not in task_sources(TaskState.PENDING):
                    continue
                conn.execute(
                    task_instances.update()
                    .where(
                        task_instances.c.id == ti.id,
                        task_instances.c.state == ti.state,
                        task_instances.c.try_number == ti.try_number,
                    )
                    .values(
                        state=TaskState.PENDING,
                        retry_base=ti.try_number,
                        next_try_at=None,
                        end_date=None,
                        start_date=None,
                        queued_at=None,
                        error=None,
                    )
                )
                if ti.state in (TaskState.QUEUED, TaskState.RUNNING):
                    conn.execute(
                        task_attempts.update()
                        .where(
                            task_attempts.c.ti_id == ti.id,
                            task_attempts.c.try_number == ti.try_number,
                        )
                        .values(state=TaskState.CANCELLED, end_date=now, error="cleared")
                    )
            _reopen_run(conn, run)
        return ids

    def mark_tasks(
        self, run: RunRecord, task_ids: Iterable[str], state: TaskState, now: datetime
    ) -> list[str]:
        """Set tasks to success or failed by hand; reopens the run so the scheduler re-decides."""
        if state not in (TaskState.SUCCESS, TaskState.FAILED):
            raise InvalidInput(f"tasks can be marked success or failed, not {state}")
        ids = _check_tasks(run, task_ids)
        changed = []
        with self.engine.execution_options(**WRITE).begin() as conn:
            for tid in ids:
                ti = run.tasks[tid]
                if ti.state not in task_sources(state):
                    continue
                done = conn.execute(
                    task_instances.update()
                    .where(
                        task_instances.c.id == ti.id,
                        task_instances.c.state == ti.state,
                        task_instances.c.try_number == ti.try_number,
                    )
                    .values(state=state, end_date=now, next_try_at=None)
                ).rowcount
                if done:
                    changed.append(tid)
                    if ti.state in (TaskState.QUEUED, TaskState.RUNNING):
                        conn.execute(
                            task_attempts.update()
                            .where(
                                task_attempts.c.ti_id == ti.id,
                                task_attempts.c.try_number == ti.try_number,
                            )
                            .values(state=state, end_date=now, error=f"marked {state} by hand")
                        )
            if changed:
                _reopen_run(conn, run)
        return changed
