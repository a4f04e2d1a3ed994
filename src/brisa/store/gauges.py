"""What the metrics read from the database at scrape time (`brisa.metrics.collector`): a few
small aggregate queries, each over an index or a table of a few rows, so that a scrape costs
the same on a store of ten DAGs as on one of thousands with years of history.

- task instances of the runs the scheduler still drives, by team and state (`ix_dag_runs_state`);
- queued task instances by team (`ix_ti_state`): the queue depth;
- leases, with the seconds left to each on the database's clock;
- repositories' last successful sync and failure count;
- import errors by team and repository.

Finished runs are not counted: their number grows without end. What ends is counted where it
ends, by the processes (`brisa_task_attempts_ended_total`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from brisa.core.states import ACTIVE_RUN_STATES, TaskState
from brisa.store.fencing import db_now
from brisa.store.tables import dag_runs, import_errors, leases, repos, task_instances


@dataclass(frozen=True)
class LeaseGauge:
    name: str
    holder: str
    epoch: int
    expires_in: float  # seconds, on the database's clock; negative once expired


@dataclass(frozen=True)
class RepoGauge:
    name: str
    team: str
    last_success_at: datetime | None
    consecutive_failures: int


@dataclass(frozen=True)
class Gauges:
    """One scrape's reading of the database."""

    tasks: dict[tuple[str, str], int]  # (team, state) -> task instances of unfinished runs
    queued: dict[str, int]  # team -> queued task instances (see `queue_depth`)
    leases: list[LeaseGauge]
    repos: list[RepoGauge]
    import_errors: dict[tuple[str, str], int]  # (team, repo) -> files that fail to import


def _db_epoch(conn: sa.Connection) -> float:
    """Seconds since the epoch on the database's clock (the clock leases are written on)."""
    return float(conn.execute(sa.select(db_now(conn.dialect.name))).scalar_one())


def active_tasks(conn: sa.Connection) -> dict[tuple[str, str], int]:
    """Task instances of the queued and running runs, by (team, state)."""
    query = (
        sa.select(dag_runs.c.team, task_instances.c.state, sa.func.count())
        .select_from(task_instances.join(dag_runs, task_instances.c.run_pk == dag_runs.c.id))
        .where(dag_runs.c.state.in_([s.value for s in ACTIVE_RUN_STATES]))
        .group_by(dag_runs.c.team, task_instances.c.state)
    )
    return {(team, state): n for team, state, n in conn.execute(query)}


def queue_depth(conn: sa.Connection) -> dict[str, int]:
    """Queued task instances (handed to an executor, worker not started) by team. The one
    place the queue is counted: a pool label goes here, beside the team, once tasks name
    pools."""
    query = (
        sa.select(dag_runs.c.team, sa.func.count())
        .select_from(task_instances.join(dag_runs, task_instances.c.run_pk == dag_runs.c.id))
        .where(task_instances.c.state == TaskState.QUEUED.value)
        .group_by(dag_runs.c.team)
    )
    return {team: n for team, n in conn.execute(query)}


def lease_gauges(conn: sa.Connection) -> list[LeaseGauge]:
    now = _db_epoch(conn)
    rows = conn.execute(
        sa.select(leases.c.name, leases.c.holder, leases.c.epoch, leases.c.expires_at).where(
            leases.c.holder != ""  # retired: its holder was lost and its work adopted
        )
    )
    return [LeaseGauge(r.name, r.holder, r.epoch, r.expires_at - now) for r in rows]


class GaugeStore:
    engine: sa.Engine

    def gauges(self) -> Gauges:
        """Read every gauge in one connection (a handful of small queries)."""
        with self.engine.connect() as conn:
            repo_rows = conn.execute(
                sa.select(
                    repos.c.name,
                    repos.c.team,
                    repos.c.last_success_at,
                    repos.c.consecutive_failures,
                )
            )
            repo_gauges = [RepoGauge(r[0], r[1], r[2], r[3] or 0) for r in repo_rows]
            errors = conn.execute(
                sa.select(import_errors.c.team, import_errors.c.repo, sa.func.count()).group_by(
                    import_errors.c.team, import_errors.c.repo
                )
            )
            return Gauges(
                tasks=active_tasks(conn),
                queued=queue_depth(conn),
                leases=lease_gauges(conn),
                repos=repo_gauges,
                import_errors={(team, repo): n for team, repo, n in errors},
            )

    def schema_revisions(self) -> tuple[str | None, str]:
        """(the database's schema revision, the newest this code knows)."""
        from brisa.store.migrate import current_revision, head_revision

        return current_revision(self.engine), head_revision()
