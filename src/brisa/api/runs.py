"""REST: runs, their tasks, logs, and the actions on them."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Generator, Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from brisa.api import render
from brisa.api.app import ApiContext, context
from brisa.control import commands as control
from brisa.core.records import RunRecord, TaskRecord
from brisa.core.spec import DagSpec
from brisa.core.states import FINISHED_TASK_STATES, RunState
from brisa.errors import InvalidInput, NotFound
from brisa.logs import tail

log = logging.getLogger("brisa.api")
MAX_STREAMS = 200  # log followers served at once; more wait for a free thread
KEEPALIVE_POLLS = 30  # an SSE comment after this many idle polls keeps proxies from closing

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
    return JSONResponse(_run_with_tasks(ctx, run), status_code=201)


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
    return _run_with_tasks(ctx, ctx.store.get_run(team, dag_id, run_id))


@router.get("/{run_id}/tasks")
def list_tasks(ctx: Ctx, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    return {"tasks": [render.task(t) for t in render.tasks_in_order(run, _spec(ctx, run))]}


def _spec(ctx: ApiContext, run: RunRecord) -> DagSpec | None:
    found = ctx.store.get_specs([run.version_id]).get(run.version_id)
    return found[0] if found else None


def _run_with_tasks(ctx: ApiContext, run: RunRecord) -> dict[str, Any]:
    """A run with its tasks in its DAG's topological order (ties by id)."""
    return render.run(run, with_tasks=True, spec=_spec(ctx, run))


def _task_of(run: RunRecord, task_id: str) -> TaskRecord:
    ti = run.tasks.get(task_id)
    if ti is None:
        raise NotFound(f"run {run.run_id} has no task {task_id!r}")
    return ti


@router.get("/{run_id}/tasks/{task_id}")
def get_task(ctx: Ctx, team: str, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    ti = _task_of(ctx.store.get_run(team, dag_id, run_id), task_id)
    return {
        **render.task(ti),
        "return_value": ctx.store.return_value(ti.id),
        "attempts": [render.attempt(a) for a in ctx.store.list_attempts(ti.id)],
    }


def _check_try(ti: TaskRecord, try_number: int) -> int:
    if ti.try_number == 0:
        raise InvalidInput(f"task {ti.task_id} has not run yet ({ti.state}): it has no log")
    if try_number > ti.try_number:
        raise InvalidInput(
            f"task {ti.task_id} has {ti.try_number} tr(ies); ask for try 1..{ti.try_number}"
        )
    return try_number


TryQuery = Annotated[int | None, Query(alias="try", ge=1)]
OffsetQuery = Annotated[int, Query(ge=0)]


@router.get("/{run_id}/tasks/{task_id}/logs")
def task_logs(
    ctx: Ctx,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: TryQuery = None,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    ti = _task_of(run, task_id)
    if ti.try_number == 0 and try_number is None:  # not started yet: nothing to read
        finished = ti.state in FINISHED_TASK_STATES
        return {"try_number": 0, "content": "", "offset": offset, "next_offset": offset,
                "finished": finished}  # fmt: skip
    number = _check_try(ti, try_number or ti.try_number)
    page = tail.page(ctx.objects, ctx.store, run, ti, number, offset, now=ctx.clock())
    return dataclasses.asdict(page)


def _sse(events: Iterable[tail.Chunk | tail.End | None]) -> Generator[str]:
    """Server-sent events: each chunk with its next offset as the event id, then `end`.

    An empty string stands for "nothing to send yet" (see `_stream_threads`).
    """
    yield "retry: 1000\n\n"
    idle = 0
    for event in events:
        if event is None:
            idle += 1
            yield ": keep-alive\n\n" if idle % KEEPALIVE_POLLS == 0 else ""
            continue
        idle = 0
        if isinstance(event, tail.Chunk):
            data = {"try_number": event.try_number, "content": event.content,
                    "next_offset": event.next_offset}  # fmt: skip
            yield f"id: {event.next_offset}\ndata: {json.dumps(data)}\n\n"
        else:
            data = {"try_number": event.try_number, "next_offset": event.next_offset}
            yield f"id: {event.next_offset}\nevent: end\ndata: {json.dumps(data)}\n\n"


async def _stream_threads(app: Any, events: Generator[str]) -> AsyncIterator[str]:
    """Run the blocking `events` in threads of its own, not in the API's thread pool.

    Each step of `events` is one poll of the store (with its sleep), so a follower holds a
    thread while it waits; giving followers their own limiter keeps every other request
    answered however many people follow logs. Between steps the event loop notices a client
    that went away and the generator is closed.
    """
    limiter = getattr(app.state, "log_stream_limiter", None)
    if limiter is None:
        limiter = app.state.log_stream_limiter = anyio.CapacityLimiter(MAX_STREAMS)
    try:
        while True:
            try:
                text = await anyio.to_thread.run_sync(next, events, None, limiter=limiter)
            except Exception:  # the status line is sent: end the stream, the client resumes
                log.warning("log stream stopped", exc_info=True)
                return
            if text is None:
                return
            if text:
                yield text
    finally:
        events.close()


@router.get("/{run_id}/tasks/{task_id}/logs/stream")
def task_logs_stream(
    ctx: Ctx,
    request: Request,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: TryQuery = None,
    offset: OffsetQuery = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    if last_event_id is not None:  # a reconnecting EventSource resumes where it was
        if not last_event_id.strip().isdigit():
            raise InvalidInput(f"Last-Event-ID {last_event_id!r} is not a log offset")
        offset = int(last_event_id)
    run = ctx.store.get_run(team, dag_id, run_id)
    ti = _task_of(run, task_id)
    if try_number is not None:
        _check_try(ti, try_number)
    follower = tail.Follower(ctx.objects, ctx.store, run, ti, try_number, offset, ctx.clock)
    return StreamingResponse(
        _stream_threads(request.app, _sse(follower)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/{run_id}/cancel")
def cancel(ctx: Ctx, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    control.cancel(ctx.store, run, now=ctx.clock(), wake=ctx.wake)
    return _run_with_tasks(ctx, ctx.store.get_run(team, dag_id, run_id))


@router.post("/{run_id}/clear")
def clear(ctx: Ctx, team: str, dag_id: str, run_id: str, body: ClearBody) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    cleared = control.clear(
        ctx.store, run, body.task_ids, downstream=body.downstream, now=ctx.clock(), wake=ctx.wake
    )
    return {
        "cleared": cleared,
        "run": _run_with_tasks(ctx, ctx.store.get_run(team, dag_id, run_id)),
    }


@router.post("/{run_id}/mark")
def mark(ctx: Ctx, team: str, dag_id: str, run_id: str, body: MarkBody) -> dict[str, Any]:
    run = ctx.store.get_run(team, dag_id, run_id)
    changed = control.mark(
        ctx.store, run, body.task_ids, body.state, now=ctx.clock(), wake=ctx.wake
    )
    return {
        "changed": changed,
        "run": _run_with_tasks(ctx, ctx.store.get_run(team, dag_id, run_id)),
    }
