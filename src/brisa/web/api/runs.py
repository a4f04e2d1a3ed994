"""REST: runs, their tasks, logs, and the actions on them."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator, Generator, Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from brisa.control.clearing import ClearOptions
from brisa.control.commands import Changed
from brisa.errors import InvalidInput
from brisa.logs import tail
from brisa.web.api import models, render
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute, quote
from brisa.web.api.models import READ, WRITE, responses

log = logging.getLogger("brisa.web.api")
MAX_STREAMS = 200  # log followers served at once; more wait for a free thread
KEEPALIVE_POLLS = 30  # an SSE comment after this many idle polls keeps proxies from closing

router = APIRouter(prefix="/api/v1/teams/{team}/dags/{dag_id}/runs", route_class=StrictJsonRoute)
MAX_OFFSET = 2**63 - 1  # what the databases' OFFSET takes
# A log offset a file system can seek to (ext4 stops at 16 TiB); no log comes near it.
MAX_LOG_OFFSET = 2**40
_DIGITS = re.compile(r"\s*[0-9]{1,20}\s*")


class TriggerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conf: dict[str, Any] | None = None
    run_id: str | None = None
    logical_date: datetime | None = Field(
        default=None, description="with a time zone, not later than now; default: now"
    )
    note: str | None = Field(
        default=None, max_length=2000, description="free text kept with the run"
    )


class ClearBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[str] = Field(min_length=1)
    downstream: bool = False
    upstream: bool = False
    only_failed: bool = Field(False, description="only tasks that failed or upstream_failed")
    include_succeeded: bool = Field(
        True, description="false: tasks reached through downstream/upstream that succeeded stay"
    )
    commit: Literal["run", "latest"] = Field(
        "run",
        description="run: on the run's commit; latest: on the DAG's latest commit, the run "
        "being re-pinned to it (only when that commit has the run's tasks)",
    )


class MarkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[str] = Field(min_length=1)
    state: Literal["success", "failed"]


@router.post(
    "",
    status_code=201,
    response_model=None,
    responses=responses(models.RunDetail, *WRITE, 404, 409, status=201),
)
def trigger(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    body: TriggerBody | None = None,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> JSONResponse:
    """Create a manual run. The same `Idempotency-Key` sent again for this DAG (within 24
    hours, to the same API process) answers the run the first request created."""
    body = body or TriggerBody()
    run = ctx.commands.trigger(
        scope,
        team,
        dag_id,
        conf=body.conf,
        run_id=body.run_id,
        logical_date=body.logical_date,
        note=body.note,
        idempotency_key=idempotency_key,
    )
    return JSONResponse(render.run(run, with_tasks=True), status_code=201)


@router.get("", response_model=None, responses=responses(models.RunList, *READ, 404))
def list_runs(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    state: str | None = None,
) -> dict[str, Any]:
    runs = ctx.queries.runs(scope, team, dag_id, limit=limit, offset=offset, state=state)
    return {"runs": [render.run(r) for r in runs]}


@router.get("/{run_id}", response_model=None, responses=responses(models.RunDetail, *READ, 404))
def get_run(ctx: Ctx, scope: CallerScope, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    return render.run(ctx.queries.run(scope, team, dag_id, run_id), with_tasks=True)


@router.get(
    "/{run_id}/tasks", response_model=None, responses=responses(models.TaskList, *READ, 404)
)
def list_tasks(ctx: Ctx, scope: CallerScope, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    run = ctx.queries.run(scope, team, dag_id, run_id)
    return {"tasks": [render.task(t) for t in run.tasks.values()]}


@router.get(
    "/{run_id}/tasks/{task_id}",
    response_model=None,
    responses=responses(models.TaskDetail, *READ, 404),
)
def get_task(
    ctx: Ctx, scope: CallerScope, team: str, dag_id: str, run_id: str, task_id: str
) -> dict[str, Any]:
    return render.task_detail(ctx.queries.task(scope, team, dag_id, run_id, task_id))


TryQuery = Annotated[int | None, Query(alias="try", ge=1)]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_LOG_OFFSET)]


@router.get(
    "/{run_id}/tasks/{task_id}/logs",
    response_model=None,
    responses=responses(models.LogPage, *READ, 404),
)
def task_logs(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: TryQuery = None,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    page = ctx.queries.log_page(
        scope, team, dag_id, run_id, task_id, try_number=try_number, offset=offset
    )
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


@router.get(
    "/{run_id}/tasks/{task_id}/logs/stream",
    response_model=None,
    response_class=StreamingResponse,
    responses=responses(None, *READ, 404, events=True),
)
def task_logs_stream(
    ctx: Ctx,
    scope: CallerScope,
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
        if not _DIGITS.fullmatch(last_event_id) or int(last_event_id) > MAX_LOG_OFFSET:
            raise InvalidInput(f"Last-Event-ID {quote(last_event_id)} is not a log offset")
        offset = int(last_event_id)
    follower = ctx.queries.log_follower(
        scope, team, dag_id, run_id, task_id, try_number=try_number, offset=offset
    )
    return StreamingResponse(
        _stream_threads(request.app, _sse(follower)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/{run_id}/cancel",
    response_model=None,
    responses=responses(models.RunDetail, *WRITE, 404, 409),
)
def cancel(ctx: Ctx, scope: CallerScope, team: str, dag_id: str, run_id: str) -> dict[str, Any]:
    return render.run(ctx.commands.cancel(scope, team, dag_id, run_id), with_tasks=True)


DryRun = Annotated[bool, Query(description="true: change nothing, answer what would change")]


@router.post(
    "/{run_id}/clear", response_model=None, responses=responses(models.Cleared, *WRITE, 404, 409)
)
def clear(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    run_id: str,
    body: ClearBody,
    dry_run: DryRun = False,
) -> dict[str, Any]:
    options = ClearOptions(
        body.downstream, body.upstream, body.only_failed, body.include_succeeded, body.commit
    )
    done = ctx.commands.clear(
        scope,
        team,
        dag_id,
        run_id,
        body.task_ids,
        downstream=body.downstream,
        options=options,
        dry_run=dry_run,
    )
    commits = done.commits
    latest = {
        "latest_commit": commits.latest if commits else None,
        "latest_unavailable": commits.unavailable if commits else None,
    }
    return {"cleared": done.task_ids, **_changed(done), **latest}


@router.post(
    "/{run_id}/mark", response_model=None, responses=responses(models.Changed, *WRITE, 404, 409)
)
def mark(
    ctx: Ctx,
    scope: CallerScope,
    team: str,
    dag_id: str,
    run_id: str,
    body: MarkBody,
    dry_run: DryRun = False,
) -> dict[str, Any]:
    done = ctx.commands.mark(
        scope, team, dag_id, run_id, body.task_ids, body.state, dry_run=dry_run
    )
    return {"changed": done.task_ids, **_changed(done)}


def _changed(done: Changed) -> dict[str, Any]:
    changes = [
        {"task_id": c.task_id, "state": c.state.value, "new_state": c.new_state.value,
         "try_number": c.try_number}
        for c in done.changes
    ]  # fmt: skip
    return {"run": render.run(done.run, with_tasks=True), "changes": changes,
            "dry_run": done.dry_run}  # fmt: skip
