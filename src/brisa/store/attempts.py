"""The worker-facing verbs: start an attempt, heartbeat, finish. Every one is guarded by the
attempt's try number, so a stale worker can never overwrite a newer attempt."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from brisa.core.records import AttemptRef, TaskRecord, WorkItem
from brisa.core.spec import DagSpec, TaskSpec
from brisa.core.states import ACTIVE_TASK_STATES, ATTEMPT_OUTCOMES, TaskState, task_sources
from brisa.core.tokens import Credential
from brisa.errors import Conflict, NotFound
from brisa.store import attemptfold, fencing, pools, rawmoves
from brisa.store.engine import BUSY_TIMEOUT_MS, WRITE
from brisa.store.guards import PreparedMove, guarded_update
from brisa.store.runs import _TASK_FIELDS, _task_record
from brisa.store.tables import dag_runs, task_attempts, task_instances

# The run's columns a worker's item needs (`_work_item`), read with its task instance.
_RUN_COLUMNS = [
    dag_runs.c[name]
    for name in (
        "team",
        "dag_id",
        "run_id",
        "version_id",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "conf",
        "code_version",
        "repo",
    )
]


# The hot path's statements, built once (ADR 0032): a worker's start and finish with its token.
# A start answers its item: the task instance's columns and its run's, these read by
# correlated subqueries in the move's own RETURNING (one statement fewer, ADR 0036).
_START = PreparedMove(
    TaskState.RUNNING,
    TaskState.QUEUED,
    match=("id", "try_number", "token_digest"),
    sets=("start_date", "heartbeat_at", "hostname", "pid", "error"),
    answer=[
        *(task_instances.c[n] for n in _TASK_FIELDS),
        *(
            sa.select(column)
            .where(dag_runs.c.id == task_instances.c.run_pk)
            .scalar_subquery()
            .label(column.name)
            for column in _RUN_COLUMNS
        ),
    ],
)
_FINISH = {
    state: PreparedMove(
        state,
        TaskState.RUNNING,
        match=("id", "try_number", "token_digest"),
        sets=("end_date", "return_value", "error", "next_try_at"),
    )
    for state in ATTEMPT_OUTCOMES
    if TaskState.RUNNING in task_sources(state)
}
_ATTEMPT = task_attempts.update().where(
    task_attempts.c.ti_id == sa.bindparam("w_ti_id"),
    task_attempts.c.try_number == sa.bindparam("w_try_number"),
)
_ATTEMPT_STARTED = _ATTEMPT.values(
    state=TaskState.RUNNING,
    start_date=sa.bindparam("v_start_date"),
    hostname=sa.bindparam("v_hostname"),
    pid=sa.bindparam("v_pid"),
)
_ATTEMPT_ENDED = _ATTEMPT.values(
    state=sa.bindparam("v_state"),
    end_date=sa.bindparam("v_end_date"),
    error=sa.bindparam("v_error"),
)
# The same on PostgreSQL, each call one statement (ADR 0036): the move, the attempt row, the
# transition record and the change note, and a start's item read with them.
_FOLD_START = attemptfold.fold(
    TaskState.RUNNING,
    TaskState.QUEUED,
    sets=("start_date", "heartbeat_at", "hostname", "pid", "error"),
    attempt={"start_date": "v_start_date", "hostname": "v_hostname", "pid": "v_pid"},
    answer=_TASK_FIELDS,
    run_columns=_RUN_COLUMNS,
)
_FOLD_FINISH = {
    state: attemptfold.fold(
        state,
        TaskState.RUNNING,
        sets=("end_date", "return_value", "error", "next_try_at"),
        attempt={"end_date": "v_end_date", "error": "v_error"},
    )
    for state in _FINISH
}
# The same on SQLite, on the DB-API cursor (no SQLAlchemy statement path, ADR 0036).
_RAW_START = rawmoves.RawMove(_START, _ATTEMPT_STARTED)
_RAW_FINISH = {state: rawmoves.RawMove(move, _ATTEMPT_ENDED) for state, move in _FINISH.items()}
_STARTED_ITEM = (
    sa.select(*[task_instances.c[n] for n in _TASK_FIELDS], *_RUN_COLUMNS)
    .join(dag_runs, dag_runs.c.id == task_instances.c.run_pk)
    .where(task_instances.c.id == sa.bindparam("ti_id"))
)


# Set by `without_waiting`: a worker's write on SQLite raises WriterBusy instead of waiting.
_NO_WAIT: contextvars.ContextVar[bool] = contextvars.ContextVar("brisa_no_wait", default=False)


class WriterBusy(Exception):
    """Another writer holds SQLite's write lock: nothing was written (`without_waiting`)."""


@contextmanager
def without_waiting() -> Iterator[None]:
    """Within, a worker's start, heartbeat or finish on SQLite takes the write lock only if it
    is free at once, else raises WriterBusy having written nothing: the execution API runs
    it on its event loop, where waiting would stall every other call (ADR 0036)."""
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


class AttemptStore:
    engine: sa.Engine
    version_spec: Callable[[int], DagSpec]  # from CatalogStore: decoded once per version

    @cached_property
    def _hot(self) -> sa.Engine:
        """The engine for a worker's writes, made once (an engine's `execution_options` is a
        new object with its own logger each time: a sixth of a start's store CPU)."""
        return self.engine.execution_options(**WRITE)

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """A worker's write transaction; under `without_waiting` on SQLite, one that does
        not wait for the write lock (WriterBusy)."""
        if self.engine.dialect.name != "sqlite":
            with self._hot.begin() as conn:
                yield conn
            return
        with self._hot.connect() as conn:
            if not _NO_WAIT.get():
                with _transaction(conn):
                    yield conn
                return
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA busy_timeout=0")
            try:
                try:
                    transaction = _transaction(conn)  # BEGIN IMMEDIATE: fails at once if taken
                except sa.exc.OperationalError as exc:
                    if "locked" not in str(exc.orig):  # not the lock: as any write fails
                        raise
                    raise WriterBusy(str(exc)) from exc
                with transaction:
                    yield conn
            finally:
                raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _folds(self, conn: sa.Connection) -> bool:
        """Whether a worker's move is one statement here (`attemptfold`): PostgreSQL, no fence."""
        return conn.dialect.name == "postgresql" and fencing.current() is None

    def task_for(self, ref: AttemptRef) -> tuple[TaskRecord, TaskSpec]:
        """The task instance behind an attempt and its task spec, from the run's version."""
        query = (
            sa.select(*[task_instances.c[n] for n in _TASK_FIELDS], dag_runs.c.version_id)
            .join(dag_runs, dag_runs.c.id == task_instances.c.run_pk)
            .where(task_instances.c.id == ref.ti_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no task instance {ref.ti_id}")
        return _task_record(row), self.version_spec(row.version_id).tasks[row.task_id]

    def _task_only(self, ref: AttemptRef) -> TaskRecord:
        """The task instance alone: no DAG spec to decode (start is a hot path)."""
        query = sa.select(*[task_instances.c[n] for n in _TASK_FIELDS]).where(
            task_instances.c.id == ref.ti_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no task instance {ref.ti_id}")
        return _task_record(row)

    def credential(self, ref: AttemptRef) -> Credential | None:
        """What authenticates a worker of `ref`'s task instance now (None: no such task)."""
        query = sa.select(
            task_instances.c.token_digest, task_instances.c.try_number, task_instances.c.state
        ).where(task_instances.c.id == ref.ti_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Credential(row.token_digest, row.try_number, row.state in ACTIVE_TASK_STATES)

    def task_team(self, ti_id: int) -> str | None:
        """The team owning a task instance's run (None: no such task instance)."""
        query = (
            sa.select(dag_runs.c.team)
            .join(task_instances, dag_runs.c.id == task_instances.c.run_pk)
            .where(task_instances.c.id == ti_id)
        )
        with self.engine.connect() as conn:
            team = conn.execute(query).scalar()
        return None if team is None else str(team)

    def set_token(self, ref: AttemptRef, digest: str) -> bool:
        """Replace the token of a queued attempt (it is relaunched): the previous one is void
        from now on. False when the attempt is not queued at that try any more."""
        return self._while_in(ref, TaskState.QUEUED, token_digest=digest)

    def start_attempt(
        self,
        ref: AttemptRef,
        *,
        hostname: str,
        pid: int,
        now: datetime,
        token_digest: str | None = None,
    ) -> WorkItem:
        """Mark a queued attempt running and return what the worker needs to run it. Only the
        holder of its current token starts it (None: an attempt queued without one, which no
        worker can authenticate for): a worker whose token a relaunch replaced between its
        authentication and this update loses."""
        if token_digest is not None:
            item = self._start_holding(ref, token_digest, hostname=hostname, pid=pid, now=now)
            if item is not None:
                return item
        else:
            holder = task_instances.c.token_digest.is_(None)
            if self._mark_running(ref, holder, hostname=hostname, pid=pid, now=now):
                return self._started_item(ref)
        held = self.credential(ref)
        if held is None:
            raise NotFound(f"no task instance {ref.ti_id}")
        if held.digest != token_digest:
            # Not the holder of the current token (a caller that did not authenticate first
            # learns nothing from this: `ExecutionService.start_with_token` answers it).
            raise Conflict(
                f"attempt {ref.try_number} of task instance {ref.ti_id} is no longer current "
                "(its token was replaced)"
            )
        ti = self._task_only(ref)
        if not (
            ti.state is TaskState.RUNNING
            and ti.try_number == ref.try_number
            and ti.pid == pid
            and ti.hostname == hostname
        ):
            raise Conflict(
                f"attempt {ref.try_number} of task instance {ref.ti_id} is no longer "
                f"current (task is {ti.state} at try {ti.try_number})"
            )
        # The worker retried a start whose answer it lost: it is alive now.
        self.heartbeat(ref, now)
        return self._work_item(ti)

    def _start_holding(
        self, ref: AttemptRef, digest: str, *, hostname: str, pid: int, now: datetime
    ) -> WorkItem | None:
        """The hot path of `start_attempt`: the guarded move, the attempt row and the item's
        read in one transaction, each statement built once. None when nothing moved."""
        where = {"id": ref.ti_id, "try_number": ref.try_number, "token_digest": digest}
        values = {"start_date": now, "heartbeat_at": now, "hostname": hostname, "pid": pid,
                  "error": None}  # fmt: skip
        attempt = {"v_start_date": now, "v_hostname": hostname, "v_pid": pid}
        with self._begin() as conn:
            if self._folds(conn):
                row = attemptfold.run(conn, _FOLD_START, where, values)
            elif rawmoves.raw_moves(conn):
                row = _RAW_START.run(conn, where, values, attempt)
            else:
                rows = _START.moved(conn, where, values)
                if rows:
                    conn.execute(_ATTEMPT_STARTED, {**_attempt_of(ref), **attempt})
                row = rows[0] if rows else None
            if row is None:
                return None
        return self._work_item(_task_record(row), row)

    def start_supervised(self, ref: AttemptRef, *, hostname: str, now: datetime) -> bool:
        """Mark a queued attempt running whose own container the executor watches (a container
        task: no worker calls `start_attempt`). False when it is not queued at that try."""
        return self._mark_running(ref, sa.true(), hostname=hostname, pid=0, now=now)

    def _mark_running(
        self, ref: AttemptRef, holder: Any, *, hostname: str, pid: int, now: datetime
    ) -> bool:
        with self._hot.begin() as conn:
            started = guarded_update(
                conn,
                task_instances,
                TaskState.RUNNING,
                task_instances.c.id == ref.ti_id,
                task_instances.c.try_number == ref.try_number,
                holder,
                expected=TaskState.QUEUED,
                values={
                    "start_date": now,
                    "heartbeat_at": now,
                    "hostname": hostname,
                    "pid": pid,
                    "error": None,  # a note on why it waited (`note_waiting`)
                },
            )
            if started:
                conn.execute(
                    task_attempts.update()
                    .where(
                        task_attempts.c.ti_id == ref.ti_id,
                        task_attempts.c.try_number == ref.try_number,
                    )
                    .values(state=TaskState.RUNNING, start_date=now, hostname=hostname, pid=pid)
                )
        return bool(started)

    def note_waiting(self, ref: AttemptRef, note: str) -> bool:
        """Say on a queued attempt why it does not run yet (its error field, cleared when it
        starts); False when it is not queued at that try any more."""
        return self._while_in(ref, TaskState.QUEUED, error=note)

    def _started_item(self, ref: AttemptRef) -> WorkItem:
        """`_work_item` of an attempt just started: its task instance and run in one read."""
        with self.engine.connect() as conn:
            row = conn.execute(_STARTED_ITEM, {"ti_id": ref.ti_id}).one()
        return self._work_item(_task_record(row), row)

    def _work_item(self, ti: TaskRecord, run: Any = None) -> WorkItem:
        """What the worker of `ti` needs; `run` is its run's row if already read."""
        if run is None:
            with self.engine.connect() as conn:
                run = conn.execute(sa.select(dag_runs).where(dag_runs.c.id == ti.run_pk)).one()
        spec = self.version_spec(run.version_id)
        task = spec.tasks[ti.task_id]
        return WorkItem(
            team=run.team,
            dag_id=run.dag_id,
            task_id=ti.task_id,
            run_id=run.run_id,
            try_number=ti.try_number,
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            params=run.conf,
            fileloc=spec.fileloc,
            code_version=run.code_version,
            repo=run.repo,
            task=task,
            upstream_values=self._upstream_values(ti.run_pk, task.body.refs()),
            secret_params=spec.secret_params(),
        )

    def _upstream_values(self, run_pk: int, refs: set[str]) -> dict[str, Any]:
        """Return values of the upstream tasks `refs` of a run, by task id."""
        if not refs:
            return {}
        query = sa.select(task_instances.c.task_id, task_instances.c.return_value).where(
            task_instances.c.run_pk == run_pk, task_instances.c.task_id.in_(refs)
        )
        with self.engine.connect() as conn:
            return {r.task_id: r.return_value for r in conn.execute(query)}

    def _while_in(
        self, ref: AttemptRef, state: TaskState, *held: sa.ColumnElement[bool], **values: Any
    ) -> bool:
        """Set `values` on the attempt's row while it is at that try in `state` (and `held`
        holds; no state change: not a transition); False when it is not any more."""
        with self._begin() as conn:
            return bool(
                conn.execute(
                    task_instances.update()
                    .where(
                        task_instances.c.id == ref.ti_id,
                        task_instances.c.try_number == ref.try_number,
                        task_instances.c.state == state,
                        *held,
                        *fencing.task_conditions(conn.dialect.name),
                    )
                    .values(**values)
                ).rowcount
            )

    def heartbeat(self, ref: AttemptRef, now: datetime, token_digest: str | None = None) -> bool:
        """Record that the worker is alive; False means it must stop (no longer current), or,
        given `token_digest`, that it is not the digest of the attempt's current token."""
        return self._while_in(ref, TaskState.RUNNING, *_holding(token_digest), heartbeat_at=now)

    def finish_attempt(
        self,
        ref: AttemptRef,
        new: TaskState,
        *,
        now: datetime,
        return_value: Any = None,
        error: str | None = None,
        next_try_at: datetime | None = None,
        token_digest: str | None = None,
    ) -> bool:
        """Record a running attempt's outcome. False if the attempt is no longer current, if
        the transition table does not let a running task end that way (e.g. skipped), or,
        given `token_digest`, if that is not the digest of the attempt's current token."""
        if new not in ATTEMPT_OUTCOMES:
            raise ValueError(f"{new} is not an outcome")
        outcome = {
            "end_date": now,
            "return_value": return_value,
            "error": error,
            "next_try_at": next_try_at,
        }
        if token_digest is not None and new in _FINISH:
            where = {"id": ref.ti_id, "try_number": ref.try_number, "token_digest": token_digest}
            ended = {"v_state": new, "v_end_date": now, "v_error": error}
            with self._begin() as conn:
                if self._folds(conn):
                    row = attemptfold.run(conn, _FOLD_FINISH[new], where, outcome)
                    if row is not None and _FINISH[new].releases:  # slots back (ADR 0020)
                        pools.release_slots(conn, [row.id])
                    return row is not None
                if rawmoves.raw_moves(conn):
                    return _RAW_FINISH[new].run(conn, where, outcome, ended) is not None
                done = _FINISH[new].move(conn, where, outcome)
                if done:
                    conn.execute(_ATTEMPT_ENDED, {**_attempt_of(ref), **ended})
                return bool(done)
        with self._hot.begin() as conn:
            done = guarded_update(
                conn,
                task_instances,
                new,
                task_instances.c.id == ref.ti_id,
                task_instances.c.try_number == ref.try_number,
                *_holding(token_digest),
                expected=TaskState.RUNNING,
                values=outcome,
            )
            if done:
                conn.execute(
                    task_attempts.update()
                    .where(
                        task_attempts.c.ti_id == ref.ti_id,
                        task_attempts.c.try_number == ref.try_number,
                    )
                    .values(state=new, end_date=now, error=error)
                )
            return bool(done)

    def return_value(self, ti_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(task_instances.c.return_value).where(task_instances.c.id == ti_id)
            ).scalar()


def _transaction(conn: sa.Connection) -> AbstractContextManager[object]:
    """A worker's write transaction on SQLite: on the DB-API connection where its moves run
    on the raw cursor (`rawmoves.RawTransaction`, ADR 0036 s22), else SQLAlchemy's."""
    if rawmoves.raw_moves(conn):
        return rawmoves.RawTransaction(conn)
    return conn.begin()


def _attempt_of(ref: AttemptRef) -> dict[str, int]:
    return {"w_ti_id": ref.ti_id, "w_try_number": ref.try_number}


def _holding(token_digest: str | None) -> list[sa.ColumnElement[bool]]:
    """The condition that the attempt's current token has this digest (none when None)."""
    return [] if token_digest is None else [task_instances.c.token_digest == token_digest]
