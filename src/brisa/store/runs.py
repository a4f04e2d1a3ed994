"""Runs and task instances: creation, listing, and every guarded state change."""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from brisa.core.pools import DEFAULT_POOL, DEFAULT_SLOTS, PoolClaim
from brisa.core.records import AttemptRecord, RunRecord, TaskRecord
from brisa.core.states import (
    ACTIVE_RUN_STATES,
    ACTIVE_TASK_STATES,
    ATTEMPT_OUTCOMES,
    FINISHED_RUN_STATES,
    RunState,
    TaskState,
)
from brisa.errors import Conflict, InvalidInput, NotFound
from brisa.store import changes, fencing, queuefold, queueing, rawpass, reading
from brisa.store.engine import WRITE
from brisa.store.guards import guarded_update
from brisa.store.pools import claim_slots
from brisa.store.tables import dag_runs, task_attempts, task_instances, task_transitions

# Not a task's record: its return value (read on its own) and its token's digest (a credential).
_TASK_FIELDS = [c.name for c in task_instances.c if c.name not in ("return_value", "token_digest")]


def _task_record(row: Any) -> TaskRecord:
    """From a row whose first columns are `_TASK_FIELDS`, in that order."""
    values = dict(zip(_TASK_FIELDS, row, strict=False))
    values["state"] = TaskState(values["state"])
    return TaskRecord(**values)


# A run's columns after its task's in one row (`runs_and_tasks`), each named `r_<column>`.
_RUN_COLUMNS = [c.label(f"r_{c.name}") for c in dag_runs.c if c.name != "note"]


def _joined_run(row: Any, tasks: dict[str, TaskRecord] | None) -> RunRecord:
    values = {c.name[2:]: getattr(row, c.name) for c in _RUN_COLUMNS}
    values["state"] = RunState(values["state"])
    return RunRecord(**values, tasks=tasks or {})


def _run_record(row: Any, tasks: dict[str, TaskRecord] | None = None) -> RunRecord:
    values = dict(row._mapping)
    values.pop("note", None)
    values["state"] = RunState(values["state"])
    return RunRecord(**values, tasks=tasks or {})


class RunStore:
    engine: sa.Engine
    reader: sa.Engine  # reads without a transaction of their own (engine.reader)

    @property
    def _writer(self) -> sa.Engine:
        return self.engine.execution_options(**WRITE)

    def create_run(
        self,
        *,
        team: str,
        dag_id: str,
        version_id: int,
        run_id: str,
        run_type: str,
        logical_date: datetime,
        interval: tuple[datetime, datetime],
        conf: dict[str, Any],
        task_ids: Iterable[str],
        now: datetime,
        repo: str = "dags",
        code_version: str = "",
    ) -> RunRecord:
        """A new queued run with every task pending, pinned to commit `code_version` of
        `repo`. Conflict if the run id exists."""
        task_ids = sorted(task_ids)
        if not task_ids:
            raise InvalidInput("a run needs at least one task")
        try:
            with self._writer.begin() as conn:
                if not fencing.still_holds(conn):
                    raise Conflict(f"run {run_id!r} not created: this scheduler's lease is lost")
                run_pk = conn.execute(
                    dag_runs.insert().values(
                        team=team,
                        dag_id=dag_id,
                        run_id=run_id,
                        run_type=run_type,
                        state=RunState.QUEUED,
                        version_id=version_id,
                        repo=repo,
                        code_version=code_version,
                        logical_date=logical_date,
                        data_interval_start=interval[0],
                        data_interval_end=interval[1],
                        conf=conf,
                        created_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
                conn.execute(
                    task_instances.insert(),
                    [
                        {
                            "run_pk": run_pk,
                            "task_id": tid,
                            "state": TaskState.PENDING,
                            "try_number": 0,
                            "retry_base": 0,
                        }
                        for tid in task_ids
                    ],
                )
                changes.record(conn, changes.new_run_topics(team, dag_id, int(run_pk)))
                # Read in the creating transaction: the run as created, whatever a scheduler
                # woken by the commit does with it a moment later.
                created = self._read_run(conn, int(run_pk))
        except IntegrityError:
            if not self._run_exists(team, dag_id, run_id):
                raise
            raise Conflict(f"run {run_id!r} of {team}/{dag_id} already exists") from None
        return created

    def _run_exists(self, team: str, dag_id: str, run_id: str) -> bool:
        query = sa.select(dag_runs.c.id).where(
            dag_runs.c.team == team, dag_runs.c.dag_id == dag_id, dag_runs.c.run_id == run_id
        )
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def _tasks_of(
        self, conn: sa.Connection, run_pks: Sequence[int]
    ) -> dict[int, dict[str, TaskRecord]]:
        by_run: dict[int, dict[str, TaskRecord]] = defaultdict(dict)
        if run_pks:
            query = sa.select(*[task_instances.c[n] for n in _TASK_FIELDS])
            for row in conn.execute(query.where(task_instances.c.run_pk.in_(list(run_pks)))):
                by_run[row.run_pk][row.task_id] = _task_record(row)
        return by_run

    def get_run_by_pk(self, run_pk: int) -> RunRecord:
        with self.engine.connect() as conn:
            return self._read_run(conn, run_pk)

    def _read_run(self, conn: sa.Connection, run_pk: int) -> RunRecord:
        row = conn.execute(sa.select(dag_runs).where(dag_runs.c.id == run_pk)).first()
        if row is None:
            raise NotFound(f"no run with internal id {run_pk}")
        return _run_record(row, self._tasks_of(conn, [run_pk])[run_pk])

    def get_run(self, team: str, dag_id: str, run_id: str) -> RunRecord:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(dag_runs).where(
                    dag_runs.c.team == team,
                    dag_runs.c.dag_id == dag_id,
                    dag_runs.c.run_id == run_id,
                )
            ).first()
            if row is None:
                raise NotFound(
                    f"no run {run_id!r} of {team}/{dag_id}; "
                    f"`brisa runs list {team}/{dag_id}` shows its runs"
                )
            return _run_record(row, self._tasks_of(conn, [row.id])[row.id])

    def list_runs(
        self,
        team: str,
        dag_id: str,
        *,
        limit: int = 50,
        offset: int = 0,
        state: str | None = None,
        with_tasks: bool = False,
    ) -> list[RunRecord]:
        query = (
            sa.select(dag_runs)
            .where(dag_runs.c.team == team, dag_runs.c.dag_id == dag_id)
            .order_by(dag_runs.c.logical_date.desc(), dag_runs.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if state:
            query = query.where(dag_runs.c.state == state)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
            tasks = self._tasks_of(conn, [r.id for r in rows]) if with_tasks else {}
            return [_run_record(r, tasks.get(r.id)) for r in rows]

    def active_runs(self, team: str | None = None) -> list[RunRecord]:
        """Queued and running runs with their tasks (of one team), oldest logical date first."""
        query = (
            sa.select(dag_runs)
            .where(dag_runs.c.state.in_(sorted(ACTIVE_RUN_STATES)))
            .order_by(dag_runs.c.logical_date, dag_runs.c.id)
        )
        if team is not None:
            query = query.where(dag_runs.c.team == team)
        with self.reader.connect() as conn:
            rows = list(conn.execute(query))
            tasks = self._tasks_of(conn, [r.id for r in rows])
            return [_run_record(r, tasks.get(r.id)) for r in rows]

    def runs_by_pk(self, run_pks: Iterable[int]) -> dict[int, RunRecord]:
        """The runs with these internal ids that exist, with their tasks (two statements)."""
        pks = sorted(set(run_pks))
        if not pks:
            return {}
        with self.reader.connect() as conn:
            rows = list(conn.execute(sa.select(dag_runs).where(dag_runs.c.id.in_(pks))))
            tasks = self._tasks_of(conn, [r.id for r in rows])
            return {r.id: _run_record(r, tasks.get(r.id)) for r in rows}

    def runs_and_tasks(
        self,
        run_pks: Iterable[int],
        ti_ids: Iterable[int],
        partial: Iterable[int] = (),
    ) -> tuple[dict[int, RunRecord], dict[int, TaskRecord]]:
        """The runs `run_pks` that exist with all their tasks, the runs `partial` that exist
        with those of their tasks among `ti_ids`, and the task instances `ti_ids` alone
        (one statement: the task rows, each with its run's columns when its run is asked
        for). The scheduler re-reads the runs that changed and only the task rows the outbox
        names and the open attempts of the others (ADR 0038)."""
        whole, some, single = set(run_pks), set(partial) - set(run_pks), set(ti_ids)
        if not whole and not single:
            return {}, {}
        asked = sorted(whole | some)
        query = _runs_and_tasks(bool(whole), bool(single), bool(asked))
        params = {"q_whole": sorted(whole), "q_single": sorted(single), "q_asked": asked}
        runs: dict[int, Any] = {}
        by_run: dict[int, dict[str, TaskRecord]] = defaultdict(dict)
        alone: dict[int, TaskRecord] = {}
        with reading.connection(self.reader) as conn:
            for row in rawpass.run(conn, query, {k: v for k, v in params.items() if v}):
                record = _task_record(row)
                if row.r_id is not None:
                    runs.setdefault(record.run_pk, row)
                    if record.run_pk in whole or record.id in single:
                        by_run[record.run_pk][record.task_id] = record
                if record.id in single:
                    alone[record.id] = record
        return {pk: _joined_run(row, by_run.get(pk)) for pk, row in runs.items()}, alone

    def run_counts(self, since: datetime) -> list[tuple[str, str, int]]:
        """(team, state, how many) of the runs created since `since`."""
        query = (
            sa.select(dag_runs.c.team, dag_runs.c.state, sa.func.count())
            .where(dag_runs.c.created_at >= since)
            .group_by(dag_runs.c.team, dag_runs.c.state)
        )
        with self.engine.connect() as conn:
            return [(str(t), str(s), int(n)) for t, s, n in conn.execute(query)]

    def tasks_by_id(self, ti_ids: Iterable[int]) -> dict[int, TaskRecord]:
        ids = list(ti_ids)
        if not ids:
            return {}
        query = sa.select(*[task_instances.c[n] for n in _TASK_FIELDS])
        with reading.connection(self.reader) as conn:
            rows = conn.execute(query.where(task_instances.c.id.in_(ids)))
            return {row.id: _task_record(row) for row in rows}

    def schedule_state(self) -> dict[tuple[str, str], tuple[datetime | None, int]]:
        """Per DAG: the newest scheduled logical date, and how many runs are active."""
        active = sa.func.sum(sa.case((dag_runs.c.state.in_(sorted(ACTIVE_RUN_STATES)), 1), else_=0))
        newest = sa.func.max(
            sa.case((dag_runs.c.run_type == "scheduled", dag_runs.c.logical_date), else_=None)
        )
        query = sa.select(dag_runs.c.team, dag_runs.c.dag_id, newest, active).group_by(
            dag_runs.c.team, dag_runs.c.dag_id
        )
        with reading.connection(self.reader) as conn:
            result = {}
            for team, dag_id, last, count in conn.execute(query):
                if isinstance(last, str):  # SQLite returns aggregates of datetimes as text
                    last = datetime.fromisoformat(last)
                if last is not None and last.tzinfo is None:
                    last = last.replace(tzinfo=UTC)
                result[(team, dag_id)] = (last, int(count or 0))
            return result

    def set_run_state(
        self, run_pk: int, new: RunState, now: datetime, *, expected: RunState | None = None
    ) -> bool:
        """Move a run to `new` if the table allows it from its current state, and only from
        `expected` when given (the state a decision was taken on: a cancel or a clear that
        came in between wins)."""
        values: dict[str, Any] = {}
        if new is RunState.RUNNING:
            # Typed like the column, so `now` is stored as UTC; a bare datetime would be bound
            # as given (SQLite) or shifted by the session time zone (PostgreSQL).
            start = sa.literal(now, dag_runs.c.start_date.type)
            values["start_date"] = sa.func.coalesce(dag_runs.c.start_date, start)
            values["end_date"] = None
        elif new in FINISHED_RUN_STATES:
            values["end_date"] = now
        with self._writer.begin() as conn:
            where = dag_runs.c.id == run_pk
            moved = guarded_update(conn, dag_runs, new, where, expected=expected, values=values)
            return bool(moved)

    def set_task_state(
        self,
        ti_id: int,
        new: TaskState,
        *,
        expected: TaskState,
        try_number: int,
        now: datetime,
        next_try_at: datetime | None = None,
        error: str | None = None,
        retry_base: int | None = None,
        return_value: Any = None,
    ) -> bool:
        """Guarded move of one task: only from `expected` at `try_number`. Loses races cleanly.
        `retry_base`: the tries before this one no longer count against its retries.
        `return_value`: what the attempt returned (a container task's result)."""
        values: dict[str, Any] = {"next_try_at": next_try_at}
        if return_value is not None:
            values["return_value"] = return_value
        if retry_base is not None:
            values["retry_base"] = retry_base
        if new in ATTEMPT_OUTCOMES:
            values["end_date"] = now
        if error is not None or new is TaskState.SUCCESS:
            values["error"] = error  # a success says nothing went wrong (e.g. a waiting note)
        with self._writer.begin() as conn:
            done = guarded_update(
                conn,
                task_instances,
                new,
                task_instances.c.id == ti_id,
                task_instances.c.try_number == try_number,
                expected=expected,
                values=values,
            )
            if done and try_number > 0 and expected in ACTIVE_TASK_STATES:
                self._close_attempt(conn, ti_id, try_number, new, now, error)
            return bool(done)

    def _close_attempt(
        self,
        conn: sa.Connection,
        ti_id: int,
        try_number: int,
        state: TaskState,
        now: datetime,
        error: str | None,
    ) -> None:
        conn.execute(
            task_attempts.update()
            .where(task_attempts.c.ti_id == ti_id, task_attempts.c.try_number == try_number)
            .values(state=state, end_date=now, error=error)
        )

    def queue_task(
        self,
        ti_id: int,
        *,
        expected: TaskState,
        try_number: int,
        now: datetime,
        token_digest: str | None = None,
        pool: PoolClaim | None = None,
    ) -> bool:
        """Hand a pending or retrying task to the executor as try `try_number + 1`, whose
        execution token has `token_digest` (the previous try's token is void from now on).

        It takes its slots of `pool` (None: one slot of its team's default pool) in the same
        transaction: when the pool has too few free, nothing changes and the answer is False."""
        # The scheduler that queues it owns the new try.
        fresh = {**queuefold.fresh_try(try_number + 1, now), "token_digest": token_digest}
        with self._writer.begin() as conn:
            # The move first: a task another scheduler queued first fails here, before it
            # holds a slot that a claim for a task still pending would then find locked.
            done = guarded_update(
                conn,
                task_instances,
                TaskState.QUEUED,
                task_instances.c.id == ti_id,
                task_instances.c.try_number == try_number,
                expected=expected,
                values=fresh,
            )
            if not done:
                return False
            if not self._claim(conn, ti_id, pool):
                conn.rollback()  # the move too: it waits for a slot, still pending
                return False
            queueing.insert_attempts(conn, [(ti_id, try_number + 1)], now)
            return True

    def _claim(self, conn: sa.Connection, ti_id: int, pool: PoolClaim | None) -> bool:
        if pool is None:
            team = sa.select(dag_runs.c.team).where(
                dag_runs.c.id == sa.select(task_instances.c.run_pk).where(
                    task_instances.c.id == ti_id).scalar_subquery()
            )  # fmt: skip
            pool = PoolClaim(conn.scalar(team) or "", DEFAULT_POOL)
        slots = getattr(self, "default_pool_slots", DEFAULT_SLOTS)
        return claim_slots(conn, ti_id, pool.team, pool.name, pool.slots, default_slots=slots)

    def list_attempts(self, ti_id: int) -> list[AttemptRecord]:
        query = (
            sa.select(task_attempts)
            .where(task_attempts.c.ti_id == ti_id)
            .order_by(task_attempts.c.try_number)
        )
        with self.engine.connect() as conn:
            return [
                AttemptRecord(**{**r._mapping, "state": TaskState(r.state)})
                for r in conn.execute(query)
            ]

    def run_attempts(self, run_pk: int) -> dict[str, list[AttemptRecord]]:
        """Every attempt of one run's tasks, by task id, in try order (one statement)."""
        query = (
            sa.select(task_instances.c.task_id, task_attempts)
            .join(task_instances, task_instances.c.id == task_attempts.c.ti_id)
            .where(task_instances.c.run_pk == run_pk)
            .order_by(task_instances.c.task_id, task_attempts.c.try_number)
        )
        out: dict[str, list[AttemptRecord]] = defaultdict(list)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                values = {k: v for k, v in row._mapping.items() if k != "task_id"}
                out[row.task_id].append(AttemptRecord(**{**values, "state": TaskState(row.state)}))
        return dict(out)

    def grid_runs(
        self, team: str, dag_id: str, *, limit: int
    ) -> list[tuple[RunRecord, tuple[int, int]]]:
        """The newest runs (no tasks), each with its *mark*: the id of its newest task
        transition and how many it has (one statement, both probed by `ix_task_transitions_run`).
        Every move of one of the run's task instances is a transition (`guards`), so a mark
        that did not change means cells that did not change; the count also moves when a
        transaction with a smaller id commits after a larger one (PostgreSQL sequences)."""
        t = task_transitions.c
        mine = t.run_pk == dag_runs.c.id
        last = sa.select(sa.func.coalesce(sa.func.max(t.id), 0)).where(mine).scalar_subquery()
        moves = sa.select(sa.func.count()).select_from(task_transitions).where(mine)
        query = (
            sa.select(dag_runs, last.label("_last_move"), moves.scalar_subquery().label("_moves"))
            .where(dag_runs.c.team == team, dag_runs.c.dag_id == dag_id)
            .order_by(dag_runs.c.logical_date.desc(), dag_runs.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        out = []
        for row in rows:
            values = dict(row._mapping)
            mark = (int(values.pop("_last_move")), int(values.pop("_moves")))
            values.pop("note", None)
            values["state"] = RunState(values["state"])
            out.append((RunRecord(**values), mark))
        return out

    def run_cells(self, runs: Sequence[RunRecord]) -> list[RunRecord]:
        """`runs` with their tasks' grid fields only (id, state, try, retry base): one
        statement (none for no run), and a few microseconds per task rather than a full record
        each."""
        if not runs:
            return []
        c = task_instances.c
        query = sa.select(c.id, c.run_pk, c.task_id, c.state, c.try_number, c.retry_base)
        by_run: dict[int, dict[str, TaskRecord]] = defaultdict(dict)
        states = {s.value: s for s in TaskState}
        with self.engine.connect() as conn:
            # fetched in one call (`all`), not a cursor round per row
            found = conn.execute(query.where(c.run_pk.in_([r.id for r in runs]))).all()
        for ti_id, run_pk, task_id, state, tries, base in found:
            by_run[run_pk][task_id] = TaskRecord(ti_id, run_pk, task_id, states[state], tries, base)
        return [dataclasses.replace(r, tasks=by_run.get(r.id, {})) for r in runs]


@functools.cache
def _runs_and_tasks(whole: bool, single: bool, asked: bool) -> sa.Select[Any]:
    """`runs_and_tasks`'s statement for its non-empty id lists (`q_<name>`), built once."""
    ti, r = task_instances.c, dag_runs.c
    wanted = [ti.run_pk.in_(sa.bindparam("q_whole", expanding=True))] if whole else []
    wanted += [ti.id.in_(sa.bindparam("q_single", expanding=True))] if single else []
    ids: sa.BindParameter[list[int]] = sa.bindparam("q_asked", expanding=True)
    joined = sa.and_(r.id == ti.run_pk, r.id.in_(ids)) if asked else sa.false()
    return (
        sa.select(*[ti[n] for n in _TASK_FIELDS], *_RUN_COLUMNS)
        .select_from(task_instances.outerjoin(dag_runs, joined))
        .where(sa.or_(*wanted))
    )
