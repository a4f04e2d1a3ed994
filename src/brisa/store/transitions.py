"""Reading the transition record (`task_transitions`, written by `guards.guarded_update`)."""

from __future__ import annotations

import sqlalchemy as sa

from brisa.core.records import TransitionRecord
from brisa.store.tables import task_transitions


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
        query = sa.select(task_transitions).where(task_transitions.c.id > after)
        if ti_id is not None:
            query = query.where(task_transitions.c.ti_id == ti_id)
        query = query.order_by(task_transitions.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [TransitionRecord(**row._mapping) for row in conn.execute(query)]
