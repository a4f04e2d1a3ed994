"""The JSON of the pools endpoints (`web/api/pools.py`), as pydantic models, like
`models` (which they build on)."""

from __future__ import annotations

from pydantic import Field

from brisa.core.states import TaskState
from brisa.web.api.models import Model


class Pool(Model):
    """A pool of a team: its slots and how many are in use (by queued and running attempts)."""

    team: str
    name: str
    description: str
    slots: int = Field(description="how many slots the pool has")
    used: int = Field(description="slots held by queued and running attempts (queued + running)")
    queued: int
    running: int
    open: int = Field(description="slots a new attempt may take now (0 while over its size)")
    waiting: int = Field(description="tasks ready to run that name this pool, not queued yet")
    is_default: bool = Field(description="the team's default_pool, for tasks without pool=")
    configured: bool = Field(
        description="false while the default pool's size comes from [pools] default_slots"
    )


class PoolList(Model):
    pools: list[Pool]
    missing: dict[str, int] = Field(
        description="pools that ready tasks name but that do not exist: how many tasks each"
    )


class PoolTask(Model):
    """A task instance holding slots of a pool, or ready and waiting in it."""

    team: str
    dag_id: str
    run_id: str
    task_id: str
    state: TaskState
    slots: int


class PoolDetail(Pool):
    holders: list[PoolTask] = Field(description="tasks holding its slots (at most 100)")
    waiting_tasks: list[PoolTask] = Field(
        description="tasks ready to run that wait in it, oldest run first (at most 100)"
    )
