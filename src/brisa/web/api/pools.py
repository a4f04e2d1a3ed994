"""REST: a team's pools (named slot limits), their usage, and the tasks waiting in them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from brisa.core.pools import MAX_SLOTS
from brisa.web.api import poolmodels, render
from brisa.web.api.app import CallerScope, Ctx
from brisa.web.api.guard import StrictJsonRoute
from brisa.web.api.models import READ, WRITE, responses

router = APIRouter(prefix="/api/v1/teams/{team}/pools", route_class=StrictJsonRoute)

PoolName = Annotated[
    str,
    Path(
        max_length=200,
        description="1 to 100 letters, digits, '_', '-' or '.', not starting with '-' or '.'",
    ),
]


class PoolPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slots: int = Field(
        ge=0, le=MAX_SLOTS, description="0 lets running tasks finish and starts no new ones"
    )
    description: str | None = Field(
        default=None, max_length=2000, description="kept as it was when left out"
    )


@router.get("", response_model=None, responses=responses(poolmodels.PoolList, *READ, 404))
def list_pools(ctx: Ctx, scope: CallerScope, team: str) -> dict[str, Any]:
    """The team's pools, its default pool first, with their usage and how many tasks wait."""
    pools = ctx.queries.pools
    return {
        "pools": [render.pool(p) for p in pools.list(scope, team)],
        "missing": pools.missing(scope, team),
    }


@router.get("/{name}", response_model=None, responses=responses(poolmodels.PoolDetail, *READ, 404))
def get_pool(ctx: Ctx, scope: CallerScope, team: str, name: PoolName) -> dict[str, Any]:
    """One pool with the tasks holding its slots and the tasks waiting for one."""
    return render.pool_detail(ctx.queries.pools.get(scope, team, name))


@router.put("/{name}", response_model=None, responses=responses(poolmodels.Pool, *WRITE, 404))
def put_pool(
    ctx: Ctx, scope: CallerScope, team: str, name: PoolName, body: PoolPut
) -> dict[str, Any]:
    """Create the pool or set its size (and description). Shrinking it below its usage lets
    the tasks holding slots finish; nothing new starts until usage is under the new size."""
    pool = ctx.commands.pools.set(scope, team, name, slots=body.slots, description=body.description)
    return render.pool(pool)


@router.delete("/{name}", status_code=204, response_model=None,
               responses=responses(None, *WRITE, 404, status=204))  # fmt: skip
def delete_pool(ctx: Ctx, scope: CallerScope, team: str, name: PoolName) -> Response:
    """Delete the pool: tasks holding its slots finish, tasks naming it wait until it exists
    again. The default pool cannot go: it returns to its size from [pools] default_slots."""
    ctx.commands.pools.delete(scope, team, name)
    return Response(status_code=204)
