"""REST: runs and task instances across DAGs, filtered and paged by keyset (`after` is the
`next_cursor` of the previous page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from brisa.control import bulk
from brisa.control.clearing import ClearOptions
from brisa.web.api import models, render
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, WRITE, responses

router = APIRouter(prefix="/api/v1", route_class=StrictJsonRoute)
Text = Annotated[str, Query(max_length=250)]


def _run_params(
    team: Text = "",
    dag: Text = "",
    run: Text = "",
    state: Annotated[str, Query(max_length=250, description="states, comma-separated")] = "",
    run_type: Text = "",
    from_: Annotated[str, Query(alias="from", max_length=64, description="ISO 8601")] = "",
    to: Annotated[str, Query(max_length=64, description="ISO 8601")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str, Query(max_length=20, description="next_cursor of a page")] = "",
) -> dict[str, str]:
    named = {"team": team, "dag": dag, "run": run, "state": state, "run_type": run_type}
    return {**named, "from": from_, "to": to, "limit": str(limit), "after": after}


def _task_params(
    team: Text = "",
    dag: Text = "",
    run: Text = "",
    task: Text = "",
    state: Annotated[str, Query(max_length=250, description="states, comma-separated")] = "",
    try_gt: Annotated[str, Query(max_length=9, description="tries above this number")] = "",
    queued_before: Annotated[str, Query(max_length=64, description="ISO 8601")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str, Query(max_length=20, description="next_cursor of a page")] = "",
) -> dict[str, str]:
    named = {"team": team, "dag": dag, "run": run, "task": task, "state": state}
    extra = {"try_gt": try_gt, "queued_before": queued_before, "limit": str(limit)}
    return {**named, **extra, "after": after}


@router.get("/runs", response_model=None, responses=responses(models.RunSearch, *READ))
def search_runs(
    ctx: Ctx, scope: CallerScope, params: Annotated[dict[str, str], Depends(_run_params)]
) -> dict[str, Any]:
    """Runs of every visible DAG, newest first."""
    found = ctx.queries.lists.runs(scope, params)
    return {"runs": [render.run_brief(r) for r in found.items], "next_cursor": found.next_cursor}


@router.get(
    "/task-instances", response_model=None, responses=responses(models.TaskInstanceSearch, *READ)
)
def search_task_instances(
    ctx: Ctx, scope: CallerScope, params: Annotated[dict[str, str], Depends(_task_params)]
) -> dict[str, Any]:
    """Task instances of every visible run, newest first."""
    found = ctx.queries.lists.tasks(scope, params)
    items = [render.task_brief(t) for t in found.items]
    return {"task_instances": items, "next_cursor": found.next_cursor}


class InstanceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    team: str = Field(max_length=250)
    dag_id: str = Field(max_length=250)
    run_id: str = Field(max_length=250)
    task_id: str = Field(max_length=250)


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: list[InstanceRef] = Field(min_length=1, max_length=bulk.MAX_INSTANCES)
    acknowledge: bool = Field(
        False,
        description=f"required above {bulk.ACK_RUNS} runs or {bulk.ACK_INSTANCES} task instances",
    )

    def named(self) -> list[bulk.Instance]:
        return [bulk.Instance(i.team, i.dag_id, i.run_id, i.task_id) for i in self.instances]


class BulkClearBody(BulkBody):
    downstream: bool = False
    upstream: bool = False
    only_failed: bool = Field(False, description="only tasks that failed or upstream_failed")
    include_succeeded: bool = Field(
        True, description="false: tasks reached through downstream/upstream that succeeded stay"
    )


class BulkMarkBody(BulkBody):
    state: str = Field(max_length=20, description="success or failed")


BulkDryRun = Annotated[bool, Query(description="true: change nothing, answer what would")]
BULK = responses(models.BulkCleared, *WRITE, 404, 409)


@router.post("/task-instances/clear", response_model=None, responses=BULK)
def clear_task_instances(
    ctx: Ctx, scope: CallerScope, body: BulkClearBody, dry_run: BulkDryRun = False
) -> dict[str, Any]:
    """Clear task instances of several runs (each run like `…/runs/{run_id}/clear`)."""
    options = ClearOptions(body.downstream, body.upstream, body.only_failed, body.include_succeeded)
    done = bulk.clear(
        ctx.commands, scope, body.named(), options, dry_run=dry_run, acknowledged=body.acknowledge
    )
    return render.bulk_changed(done)


@router.post("/task-instances/mark", response_model=None, responses=BULK)
def mark_task_instances(
    ctx: Ctx, scope: CallerScope, body: BulkMarkBody, dry_run: BulkDryRun = False
) -> dict[str, Any]:
    """Mark task instances of several runs success or failed (each run like
    `…/runs/{run_id}/mark`)."""
    done = bulk.mark(ctx.commands, scope, body.named(), body.state, dry_run=dry_run,
                     acknowledged=body.acknowledge)  # fmt: skip
    return render.bulk_changed(done)


@router.post("/task-instances/cancel", response_model=None, responses=BULK)
def cancel_task_instances(
    ctx: Ctx, scope: CallerScope, body: BulkBody, dry_run: BulkDryRun = False
) -> dict[str, Any]:
    """Cancel the runs of these task instances (each like `…/runs/{run_id}/cancel`); runs
    that have finished are left as they are."""
    done = bulk.cancel(ctx.commands, scope, body.named(), dry_run=dry_run,
                       acknowledged=body.acknowledge)  # fmt: skip
    return render.bulk_changed(done)
