"""REST: DAGs, import errors, health."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from brisa.api import render
from brisa.api.app import ApiContext, context
from brisa.core import timetable
from brisa.core.records import DagRecord

router = APIRouter(prefix="/api/v1")
Ctx = Annotated[ApiContext, Depends(context)]


class DagPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    is_paused: bool


def _render_all(
    ctx: ApiContext, records: list[DagRecord], detail: bool = False
) -> list[dict[str, Any]]:
    state = ctx.store.schedule_state()
    now = ctx.clock()
    out = []
    for record in records:
        spec = record.spec
        last = state.get((record.team, record.dag_id), (None, 0))[0]
        upcoming = None
        if spec.start_date and not record.is_paused:
            upcoming = timetable.next_fire(
                spec.schedule,
                start=spec.start_date,
                end=spec.end_date,
                last=last,
                now=now,
                catchup=bool(spec.raw["catchup"]),
            )
        out.append(render.dag(record, detail=detail, next_run=upcoming))
    return out


@router.get("/health")
def health(ctx: Ctx) -> dict[str, Any]:
    with ctx.store.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"status": "ok", "database": ctx.store.backend}


@router.get("/dags")
def find_dags(ctx: Ctx, dag_id: str | None = None, team: str | None = None) -> dict[str, Any]:
    """DAGs of every team (filter by dag_id to resolve a bare id)."""
    return {"dags": _render_all(ctx, ctx.store.list_dags(team, dag_id=dag_id))}


@router.get("/teams/{team}/dags")
def list_dags(ctx: Ctx, team: str) -> dict[str, Any]:
    return {"dags": _render_all(ctx, ctx.store.list_dags(team))}


@router.get("/teams/{team}/dags/{dag_id}")
def get_dag(ctx: Ctx, team: str, dag_id: str) -> dict[str, Any]:
    return _render_all(ctx, [ctx.store.get_dag(team, dag_id)], detail=True)[0]


@router.patch("/teams/{team}/dags/{dag_id}")
def patch_dag(ctx: Ctx, team: str, dag_id: str, body: DagPatch) -> dict[str, Any]:
    record = ctx.store.set_paused(team, dag_id, body.is_paused)
    ctx.wake()
    return _render_all(ctx, [record], detail=True)[0]


@router.get("/import-errors")
def import_errors(ctx: Ctx, team: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    return {"import_errors": [render.import_error(e) for e in ctx.store.list_import_errors(team)]}
