"""REST: runs, their tasks, logs, and the actions on them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from brisa import control, tasklogs
from brisa.api import render
from brisa.api.app import ApiContext, context
from brisa.errors import InvalidInput, NotFound
from brisa.states import FINISHED_TASK_STATES, RunState, TaskState

router = APIRouter(prefix="/api/v1/teams/{team}/dags/{dag_id}/runs")
Ctx = Annotated[ApiContext, Depends(context)]


class TriggerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conf: dict[str, Any] | None = None
    run_id: str | None = None
    logical_date: datetime | None = None


class ClearBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[str] = Field(min_length=1)
    downstream: bool = False


class MarkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[str] = Field(min_length=1)
    state: Literal["success", "failed"]


@router.post("", status_code=201)
def trigger(ctx: Ctx, team: str, dag_id: str, body: TriggerBody | None = None) -> JSONResponse:
    body = body or TriggerBody()
    run = control.trigger(
        ctx.store,
        team,
        dag_id,
        conf=body.conf,
        run_id=body.run_id,
        logical_date=body.logical_date,
        now=ctx.clock(),
    )
    ctx.wake()
    return JSONResponse(render.run(run, with_tasks=True), status_code=201)


@router.get("")
def list_runs(
    ctx: Ctx,
    team: str,
    dag_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    state: str | None = None,
) -> dict[str, Any]:
    ctx.store.get_dag(team, dag_id)
    if state is not None and state not in {s.value for s in RunState}:
        known = ", ".join(s.value for s in RunState)
        raise InvalidInput(f"unknown run state {state!r}; use one of {known}")
    runs = ctx.store.list_runs(team, dag_id, limit=limit, offset=offset, state=state)
    return {"runs": [render.run(r) for r in runs]}


@router.get("/{run_id}")
def get_run(ctx: Ctx, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    return render.run(ctx.store.get_run(team, dag_id, run_id), with_tasks=True)


@router.get("/{run_id}/tasks")
def list_tasks(ctx: Ctx, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    return {"tasks": [render.task(t) for _, t in sorted(run.tasks.items())]}


@router.get("/{run_id}/tasks/{task_id}")
def get_task(ctx: Ctx, team: str, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    ti = run.tasks.get(task_id)
    if ti is None:
        raise NotFound(f"run {run_id} has no task {task_id!r}")
    return {
        **render.task(ti),
        "return_value": ctx.store.return_value(ti.id),
        "attempts": [render.attempt(a) for a in ctx.store.list_attempts(ti.id)],
    }


@router.get("/{run_id}/tasks/{task_id}/logs")
def task_logs(
    ctx: Ctx,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: Annotated[int | None, Query(alias="try", ge=1)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    ti = run.tasks.get(task_id)
    if ti is None:
        raise NotFound(f"run {run_id} has no task {task_id!r}")
    if ti.try_number == 0 and try_number is None:  # not started yet: nothing to read
        return {
            "try_number": 0,
            "content": "",
            "offset": offset,
            "next_offset": offset,
            "finished": ti.state in FINISHED_TASK_STATES,
        }
    number = try_number or ti.try_number
    if number < 1 or number > ti.try_number:
        raise InvalidInput(
            f"task {task_id} has {ti.try_number} tr(ies); ask for try 1..{ti.try_number}"
        )
    prefix = tasklogs.attempt_prefix(team, dag_id, run_id, task_id, number)
    data, next_offset = tasklogs.read(ctx.objects, prefix, offset)
    content = data.decode(errors="replace")
    finished = (
        number < ti.try_number
        or ti.state in FINISHED_TASK_STATES
        or ti.state is TaskState.UP_FOR_RETRY
    )
    return {
        "try_number": number,
        "content": content,
        "offset": offset,
        "next_offset": next_offset,
        "finished": finished,
    }


@router.post("/{run_id}/cancel")
def cancel(ctx: Ctx, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    control.cancel(ctx.store, run, now=ctx.clock(), wake=ctx.wake)
    return render.run(ctx.store.get_run(team, dag_id, run_id), with_tasks=True)


@router.post("/{run_id}/clear")
def clear(ctx: Ctx, team: str, dag_id: str, run_id: str, body: ClearBody) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    cleared = control.clear(
        ctx.store, run, body.task_ids, downstream=body.downstream, now=ctx.clock(), wake=ctx.wake
    )
    return {
        "cleared": cleared,
        "run": render.run(ctx.store.get_run(team, dag_id, run_id), with_tasks=True),
    }


@router.post("/{run_id}/mark")
def mark(ctx: Ctx, team: str, dag_id: str, run_id: str, body: MarkBody) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    changed = control.mark(
        ctx.store, run, body.task_ids, body.state, now=ctx.clock(), wake=ctx.wake
    )
    return {
        "changed": changed,
        "run": render.run(ctx.store.get_run(team, dag_id, run_id), with_tasks=True),
    }
