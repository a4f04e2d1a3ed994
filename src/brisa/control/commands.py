"""What people do to DAGs and runs — trigger, pause, cancel, clear, mark — in one place,
shared by the REST API and the CLI's in-process commands. Handlers stay thin."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from brisa.authoring.params import resolve_conf
from brisa.core.records import DagRecord, RunRecord, run_id_for
from brisa.core.states import TaskState
from brisa.errors import Conflict, InvalidInput, NotFound
from brisa.store import Store

_RUN_ID = re.compile(r"^[A-Za-z0-9_.:+=-]{1,250}$")


def trigger(
    store: Store,
    team: str,
    dag_id: str,
    *,
    conf: Any,
    now: datetime,
    run_id: str | None = None,
    logical_date: datetime | None = None,
) -> RunRecord:
    """Create a manual run with validated params. Bad conf: InvalidInput, nothing created."""
    dag = store.get_dag(team, dag_id)
    params = resolve_conf(dag.spec.params, conf)
    try:
        json.dumps(params, allow_nan=False)
    except ValueError:
        raise InvalidInput("conf values must be finite JSON numbers (no NaN or Infinity)") from None
    logical = logical_date or now
    if logical.tzinfo is None:
        raise InvalidInput("logical_date needs a time zone, e.g. 2026-01-01T00:00:00Z")
    try:
        logical = logical.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"logical_date {logical.isoformat()} is out of range in UTC") from None
    run_id = run_id or run_id_for("manual", now)
    if not _RUN_ID.match(run_id):
        raise InvalidInput(f"run id {run_id!r} may use letters, digits and _ . : + = - only")
    if run_id in (".", ".."):
        raise InvalidInput(f"run id {run_id!r} is not allowed: '.' and '..' name folders")
    return store.create_run(
        team=team,
        dag_id=dag_id,
        version_id=dag.version_id,
        run_id=run_id,
        run_type="manual",
        logical_date=logical,
        interval=(logical, logical),
        conf=params,
        task_ids=dag.spec.tasks,
        now=now,
        repo=dag.repo,
        code_version=dag.code_version,
    )


def resolve_dag(store: Store, name: str) -> DagRecord:
    """`team/dag_id`, or a bare dag_id when exactly one team has it."""
    if "/" in name:
        team, dag_id = name.split("/", 1)
        return store.get_dag(team, dag_id)
    found = store.list_dags(dag_id=name)
    if not found:
        raise NotFound(f"no DAG {name!r}; `brisa dags list` shows the DAGs there are")
    if len(found) > 1:
        teams = ", ".join(f"{d.team}/{d.dag_id}" for d in found)
        raise InvalidInput(f"DAG id {name!r} exists in several teams ({teams}); name one")
    return found[0]


def clear(
    store: Store,
    run: RunRecord,
    task_ids: Iterable[str],
    *,
    downstream: bool,
    now: datetime,
    wake: Callable[[], None],
) -> list[str]:
    """Run tasks again (optionally with everything downstream of them), on the run's code."""
    ids = set(task_ids)
    if not ids:
        raise InvalidInput("name at least one task to clear")
    if downstream:
        spec = store.get_specs([run.version_id])[run.version_id][0]
        unknown = ids - set(spec.tasks)
        if not unknown:
            ids |= spec.descendants(ids)
    cleared = store.clear_tasks(run, ids, now)
    wake()
    return cleared


def mark(
    store: Store,
    run: RunRecord,
    task_ids: Iterable[str],
    state: str,
    *,
    now: datetime,
    wake: Callable[[], None],
) -> list[str]:
    try:
        target = TaskState(state)
    except ValueError:
        raise InvalidInput(f"tasks can be marked success or failed, not {state!r}") from None
    changed = store.mark_tasks(run, task_ids, target, now)
    wake()
    return changed


def cancel(store: Store, run: RunRecord, *, now: datetime, wake: Callable[[], None]) -> None:
    """Cancel a queued or running run; Conflict if it has already finished."""
    if not store.cancel_run(run, now):
        current = store.get_run_by_pk(run.id).state
        raise Conflict(
            f"run {run.run_id} is already {current}; only queued or running runs can be cancelled"
        )
    wake()
