"""A run's note: free text people attach to a run (when triggering it, UI.md A.4.1)."""

from __future__ import annotations

import sqlalchemy as sa

from brisa.store.tables import dag_runs


class NoteStore:
    engine: sa.Engine

    def set_run_note(self, run_pk: int, note: str | None) -> None:
        """Set (or with None, remove) the note of run `run_pk`."""
        with self.engine.begin() as conn:
            conn.execute(dag_runs.update().where(dag_runs.c.id == run_pk).values(note=note))

    def run_note(self, run_pk: int) -> str | None:
        """The note of run `run_pk` (None without one)."""
        with self.engine.connect() as conn:
            query = sa.select(dag_runs.c.note).where(dag_runs.c.id == run_pk)
            note: str | None = conn.execute(query).scalar()
            return note
