"""The scheduler's view of the active runs, kept up to date from the change outbox.

Reading every active run with all its tasks on every pass costs time proportional to all
the work in flight, on every pass (W6: 1,000 runs and 10,000 task rows, hundreds of times).
Every state change of a run or a task instance, and every run created or adopted, notes
`run:<pk>` in the change outbox in its own transaction (ADR 0017), so a pass re-reads only the
runs named there since its previous pass (docs/adr/0022-incremental-scheduler-snapshots.md):

- the runs named by the changes after the last id read, and by ids seen skipped (a
  PostgreSQL transaction that took an id earlier may commit later: looked for again for
  `changes.SKIPPED_WAIT` seconds, as the UI's change feed does). Every move of a task row
  also names it (`attempt:<ti>/<try>`, `guards.task_topics`), so of a known run named with
  some of its tasks only its own row and those task rows are read (and its open ones); new
  runs, and runs named without a task (a run move, an adoption), are read whole (ADR 0038);
- the queued and running task instances of the other runs, every pass: heartbeats, a
  waiting note and a new token are written without a change note (the execution API's hot
  path), and the planner judges open attempts on them. Only those rows are read, not their
  whole runs (every other column of the run and its tasks changes with a note); a run whose
  open task was found in another state or try (its note not yet visible: committed after
  the outbox was read) keeps its record this pass and is read whole on the next;
- everything, on the first pass, after a burst of more than `LIMIT` changes, and every
  `full_every` (60) seconds: a level-triggered resync bounds what any missed note could cost.

A run that left queued and running is dropped. The view is a cache of rows, not a source of
truth: every write stays a guarded, fenced move, so a decision on a stale view loses its race.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable

from brisa.core.records import RunRecord, TaskRecord
from brisa.core.states import ACTIVE_RUN_STATES, TaskState
from brisa.store import Store, changes

LIMIT = 5000  # changes read per pass; more than that: read everything instead
WINDOW = 1000  # ids before the newest checked for gaps when reading everything
OPEN = (TaskState.QUEUED, TaskState.RUNNING)


class ActiveRuns:
    """Queued and running runs with their tasks, re-read only where they changed."""

    def __init__(
        self,
        store: Store,
        *,
        full_every: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.full_every = full_every
        self.monotonic = monotonic
        self._runs: dict[int, RunRecord] = {}
        self._open: set[int] = set()  # runs with a queued or running task
        self._run_of: dict[int, int] = {}  # task instance id -> its run's id
        self._cursor = changes.Cursor()
        self._full_at: float | None = None
        self._stale: set[int] = set()  # runs to read whole on the next pass
        # How many full reads, runs re-read whole, and open task rows re-read alone.
        self.reads = {"full": 0, "runs": 0, "tasks": 0}

    def wanted(self) -> tuple[int, list[int]] | None:
        """The outbox this pass reads (after which id, and which ids seen skipped), for a
        caller that reads it with other things (`Store.pass_reads`); None: a full read is due,
        which reads no changes."""
        if self._full_due(self.monotonic()):
            return None
        return self._cursor.last, sorted(self._cursor.skipped)

    def refresh(self, found: list[tuple[int, str]] | None = None) -> list[RunRecord]:
        """The active runs now, oldest logical date first. `found`: the outbox's changes
        `wanted` asked for, already read (None: read them here)."""
        now = self.monotonic()
        if self._full_due(now):
            self._read_all(now)
        else:
            self._read_changed(now, found)
        return sorted(self._runs.values(), key=lambda r: (r.logical_date, r.id))

    def _full_due(self, now: float) -> bool:
        return self._full_at is None or now - self._full_at >= self.full_every

    def forget(self) -> None:
        """Read everything on the next pass (e.g. after a failed one)."""
        self._full_at = None

    def _read_all(self, now: float) -> None:
        # The position first: what changes while the runs are read is read again next pass.
        newest = self.store.last_change_id()
        start = max(0, newest - WINDOW)
        seen = [i for i, _ in self.store.changes_after(start, limit=WINDOW)]
        self._cursor = changes.Cursor(last=start)
        self._cursor.advance([*seen, newest] if newest > start else seen, now)
        self._runs, self._open, self._run_of, self._stale = {}, set(), {}, set()
        for run in self.store.active_runs():
            self._keep(run)
        self._full_at = now
        self.reads["full"] += 1

    def _read_changed(self, now: float, found: list[tuple[int, str]] | None) -> None:
        rows = found
        if rows is None:
            rows = self.store.changes_after(
                self._cursor.last, also=sorted(self._cursor.skipped), limit=LIMIT
            )
        if len(rows) >= LIMIT:
            self._read_all(now)
            return
        self._cursor.advance([i for i, _ in rows], now)
        whole, rows_of = self._named([topic for _, topic in rows])
        quiet = {pk: self._open_ids(pk) for pk in self._open - whole - rows_of.keys()}
        single = [i for ids in (*quiet.values(), *rows_of.values()) for i in ids]
        fresh, tasks = self.store.runs_and_tasks(whole, single, partial=rows_of)
        self.reads["runs"] += len(whole)
        self.reads["tasks"] += len(single)
        for pk in whole:
            self._drop(pk)
            run = fresh.get(pk)
            if run is not None and run.state in ACTIVE_RUN_STATES:
                self._keep(run)
        for pk in rows_of:
            self._merge(pk, fresh.get(pk))
        for pk, ids in quiet.items():
            self._update(pk, [tasks.get(i) for i in ids])

    def _named(self, topics: list[str]) -> tuple[set[int], dict[int, set[int]]]:
        """The runs to read whole, and per other run named, the task rows to read with its
        own: those the outbox names (`attempt:<ti>/<try>`) and its open ones. Whole: new
        runs, runs named without a task of theirs (a run move, an adoption) and runs found
        stale on the previous pass."""
        named = {int(topic[4:]) for topic in topics if topic.startswith("run:")}
        rows_of: dict[int, set[int]] = defaultdict(set)
        for topic in topics:
            if topic.startswith("attempt:"):
                ti_id = int(topic[8:].partition("/")[0])
                pk = self._run_of.get(ti_id)
                if pk in named:
                    rows_of[pk].add(ti_id)
        whole = (named - rows_of.keys()) | self._stale
        for pk in self._stale:
            rows_of.pop(pk, None)
        self._stale = set()
        for pk, ids in rows_of.items():
            ids.update(self._open_ids(pk))
        return whole, dict(rows_of)

    def _merge(self, pk: int, run: RunRecord | None) -> None:
        """A run's row and the task rows the outbox named, read again, over its other tasks
        as they were: a new record (its view is worked out again)."""
        known = self._runs[pk]
        self._drop(pk)
        if run is not None and run.state in ACTIVE_RUN_STATES:
            self._keep(dataclasses.replace(run, tasks={**known.tasks, **run.tasks}))

    def _open_ids(self, pk: int) -> list[int]:
        return [ti.id for ti in self._runs[pk].tasks.values() if ti.state in OPEN]

    def _update(self, pk: int, found: list[TaskRecord | None]) -> None:
        """A run's open tasks read again: changed columns taken in (a new record, so its
        view is worked out again), unless one is gone or left its state or try."""
        run = self._runs[pk]
        tasks = dict(run.tasks)
        for ti in found:
            known = tasks.get(ti.task_id) if ti is not None else None
            if (
                ti is None
                or known is None
                or (ti.state, ti.try_number)
                != (
                    known.state,
                    known.try_number,
                )
            ):
                self._stale.add(pk)  # its change note is still to come: read whole next pass
                return
            tasks[ti.task_id] = ti
        if tasks != run.tasks:
            self._runs[pk] = dataclasses.replace(run, tasks=tasks)

    def _keep(self, run: RunRecord) -> None:
        self._runs[run.id] = run
        for ti in run.tasks.values():
            self._run_of[ti.id] = run.id
        if any(ti.state in OPEN for ti in run.tasks.values()):
            self._open.add(run.id)

    def _drop(self, pk: int) -> None:
        run = self._runs.pop(pk, None)
        self._open.discard(pk)
        for ti in run.tasks.values() if run is not None else ():
            self._run_of.pop(ti.id, None)

    def knows(self, ti_id: int) -> bool:
        """Whether the task instance belongs to one of the active runs."""
        return ti_id in self._run_of

    def open_tasks(self) -> list[TaskRecord]:
        """The queued and running task instances of the active runs."""
        return [ti for pk in self._open for ti in self._runs[pk].tasks.values() if ti.state in OPEN]
