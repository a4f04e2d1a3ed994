"""Reading the transition record (`task_transitions`, written by `guards.guarded_update`)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from brisa.core.records import TransitionRecord
from brisa.store.tables import task_instances, task_transitions

t = task_transitions

# Who made a move, by kind: the actor names `actors.acting_as` is given.
ACTOR_KINDS = ("worker", "api", "scheduler")


def _actor_is(kind: str) -> sa.ColumnElement[bool]:
    if kind == "scheduler":  # the lone scheduler ("scheduler") or one with a lease
        return sa.or_(t.c.actor == "scheduler", t.c.actor.startswith("scheduler:"))
    if kind not in ACTOR_KINDS:
        raise ValueError(f"unknown actor kind {kind!r}")
    return t.c.actor == kind


class TransitionStore:
    engine: sa.Engine

    def task_history(self, ti_id: int) -> list[TransitionRecord]:
        """Every move of one task instance, oldest first."""
        return self.transitions_after(0, ti_id=ti_id)

    def transitions_after(
        self, after: int, *, limit: int | None = None, ti_id: int | None = None
    ) -> list[TransitionRecord]:
        """Moves recorded with an id above `after`, in id order (of one task instance when
        `ti_id` is given), at most `limit` of them."""
        query = sa.select(t).where(t.c.id > after)
        if ti_id is not None:
            query = query.where(t.c.ti_id == ti_id)
        query = query.order_by(t.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [TransitionRecord(**row._mapping) for row in conn.execute(query)]

    def run_moves(
        self,
        run_pk: int,
        *,
        limit: int,
        before: int | None = None,
        task_id: str | None = None,
        actors: Iterable[str] = (),
        states: Iterable[str] = (),
    ) -> list[TransitionRecord]:
        """The moves of one run's task instances, newest first, at most `limit`, with their
        `task_id`: those recorded before move id `before` (the next page), of one task, by
        one of the actor kinds `actors` (of ACTOR_KINDS), to one of `states`. Read by index:
        (run, id) for a run, (task instance, id) for one task."""
        query = (
            sa.select(t, task_instances.c.task_id)
            .join(task_instances, task_instances.c.id == t.c.ti_id)
            .where(t.c.run_pk == run_pk)
        )
        if task_id is not None:  # the task instance's own index, not the run's
            ti = sa.select(task_instances.c.id).where(
                task_instances.c.run_pk == run_pk, task_instances.c.task_id == task_id
            )
            query = query.where(t.c.ti_id == ti.scalar_subquery())
        if before is not None:
            query = query.where(t.c.id < before)
        kinds = sorted(set(actors))
        if kinds:
            query = query.where(sa.or_(*(_actor_is(k) for k in kinds)))
        wanted = sorted(set(states))
        if wanted:
            query = query.where(t.c.to_state.in_(wanted))
        query = query.order_by(t.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [TransitionRecord(**row._mapping) for row in conn.execute(query)]
