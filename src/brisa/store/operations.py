"""What operators do to runs: cancel a run, clear tasks to run again, mark tasks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from brisa.core.records import RunRecord, TaskRecord
from brisa.core.states import (
    ACTIVE_TASK_STATES,
    FINISHED_RUN_STATES,
    MARK_TARGETS,
    RunState,
    TaskState,
)
from brisa.errors import Conflict, InvalidInput
from brisa.store.engine import WRITE
from brisa.store.guards import guarded_update
from brisa.store.tables import dag_runs, task_attempts, task_instances


def _reopen_run(conn: sa.Connection, run: RunRecord) -> None:
    # Guarded by the stored state, not the caller's record: the run may have finished since it
    # was read, and a finished run with pending tasks would never be scheduled again. A queued
    # or running run is left alone: the scheduler still drives it.
    guarded_update(
        conn,
        dag_runs,
        RunState.RUNNING,
        dag_runs.c.id == run.id,
        expected=FINISHED_RUN_STATES,
        values={"end_date": None},
    )


def _repin(conn: sa.Connection, run: RunRecord, version_id: int, code_version: str) -> None:
    moved = conn.execute(
        dag_runs.update()
        .where(
            dag_runs.c.id == run.id,
            dag_runs.c.version_id == run.version_id,
            dag_runs.c.code_version == run.code_version,
        )
        .values(version_id=version_id, code_version=code_version)
    ).rowcount
    if moved != 1:
        raise Conflict(f"run {run.run_id} was re-pinned meanwhile; open it again and retry")


def _move_task(
    conn: sa.Connection, ti: TaskRecord, to: TaskState, values: Mapping[str, Any]
) -> bool:
    """Move one task from the state and try it was read at; False if the table forbids the
    move or the task changed since."""
    return bool(
        guarded_update(
            conn,
            task_instances,
            to,
            task_instances.c.id == ti.id,
            task_instances.c.try_number == ti.try_number,
            expected=ti.state,
            values=values,
        )
    )


def _close_attempt(
    conn: sa.Connection, ti: TaskRecord, state: TaskState, now: datetime, error: str
) -> None:
    """Close the attempt a task left (if one was open) when an operator moved it."""
    if ti.state in ACTIVE_TASK_STATES:
        conn.execute(
            task_attempts.update()
            .where(task_attempts.c.ti_id == ti.id, task_attempts.c.try_number == ti.try_number)
            .values(state=state, end_date=now, error=error)
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
            done = guarded_update(
                conn,
                dag_runs,
                RunState.CANCELLED,
                dag_runs.c.id == run.id,
                values={"end_date": now},
            )
            if done:
                guarded_update(
                    conn,
                    task_instances,
                    TaskState.CANCELLED,
                    task_instances.c.run_pk == run.id,
                    values={"end_date": now, "next_try_at": None},
                )
                conn.execute(
                    task_attempts.update()
                    .where(
                        task_attempts.c.ti_id.in_(
                            sa.select(task_instances.c.id).where(task_instances.c.run_pk == run.id)
                        ),
                        task_attempts.c.state.in_(sorted(ACTIVE_TASK_STATES)),
                    )
                    .values(state=TaskState.CANCELLED, end_date=now, error="run cancelled")
                )
            return bool(done)

    def clear_tasks(
        self,
        run: RunRecord,
        task_ids: Iterable[str],
        now: datetime,
        *,
        pin: tuple[int, str] | None = None,
    ) -> list[str]:
        """Put tasks back to pending so they run again (new tries); reopens a finished run.

        A running task is stopped first: its worker loses its token's validity at once.
        `pin` (a DAG version and its commit): re-pin the run to it in the same transaction, so
        the tasks that run from now on run that version's code (a clear on the latest commit);
        Conflict if the run's pin changed since `run` was read.
        """
        ids = _check_tasks(run, task_ids)
        with self.engine.execution_options(**WRITE).begin() as conn:
            if pin is not None:
                _repin(conn, run, *pin)
            for tid in ids:
                ti = run.tasks[tid]
                reset = {
                    "retry_base": ti.try_number,
                    "next_try_at": None,
                    "end_date": None,
                    "start_date": None,
                    "queued_at": None,
                    "error": None,
                }
                if _move_task(conn, ti, TaskState.PENDING, reset):
                    _close_attempt(conn, ti, TaskState.CANCELLED, now, "cleared")
            _reopen_run(conn, run)
        return ids

    def mark_tasks(
        self, run: RunRecord, task_ids: Iterable[str], state: TaskState, now: datetime
    ) -> list[str]:
        """Set tasks to success or failed by hand; reopens the run so the scheduler re-decides."""
        if state not in MARK_TARGETS:
            raise InvalidInput(f"tasks can be marked success or failed, not {state}")
        ids = _check_tasks(run, task_ids)
        changed = []
        with self.engine.execution_options(**WRITE).begin() as conn:
            for tid in ids:
                ti = run.tasks[tid]
                if _move_task(conn, ti, state, {"end_date": now, "next_try_at": None}):
                    changed.append(tid)
                    _close_attempt(conn, ti, state, now, f"marked {state} by hand")
            if changed:
                _reopen_run(conn, run)
        return changed
