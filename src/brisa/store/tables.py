"""The metadata schema (SQLAlchemy Core). Alembic migrations create it; never edit in place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


metadata = sa.MetaData()

dags = sa.Table(
    "dags",
    metadata,
    sa.Column("team", sa.String(100), primary_key=True),
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("fileloc", sa.String(1000), nullable=False),
    sa.Column("version_id", sa.Integer, nullable=False),
    # The repository the DAG comes from and the commit it was last published from.
    sa.Column("repo", sa.String(100), nullable=False, server_default="dags"),
    sa.Column("code_version", sa.String(64), nullable=False, server_default=""),
    sa.Column("is_active", sa.Boolean, nullable=False, default=True),
    sa.Column("is_paused", sa.Boolean, nullable=False, default=False),
    sa.Column("last_parsed_at", UtcDateTime, nullable=False),
)

dag_versions = sa.Table(
    "dag_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("team", sa.String(100), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("structure_hash", sa.String(64), nullable=False),
    sa.Column("code_version", sa.String(64), nullable=False, default=""),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # The spec's owner (None: none named), a column so the DAG list filters by it.
    sa.Column("owner", sa.Text, nullable=True),
    sa.UniqueConstraint("team", "dag_id", "structure_hash", "code_version", name="uq_dag_version"),
    sa.Index("ix_dag_versions_owner", "owner"),
)

# A version's tags as rows (the spec has them too): what the DAG list filters by and the tag
# typeahead lists, in the database. Written with the version row; immutable like it.
dag_tags = sa.Table(
    "dag_tags",
    metadata,
    sa.Column(
        "version_id",
        sa.Integer,
        sa.ForeignKey("dag_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.Text, primary_key=True),
    sa.Index("ix_dag_tags_tag", "tag", "version_id"),
)

import_errors = sa.Table(
    "import_errors",
    metadata,
    sa.Column("team", sa.String(100), primary_key=True),
    sa.Column("repo", sa.String(100), primary_key=True),
    sa.Column("filename", sa.String(1000), primary_key=True),
    # The commit in which the error was (last) seen.
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("lineno", sa.Integer, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("traceback", sa.Text, nullable=False),
    # When the error was last seen (created_at) and when the file was first seen failing, kept
    # across re-parses while it still fails (migration 0013; null only before it ran).
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("first_seen_at", UtcDateTime, nullable=True),
)

dag_runs = sa.Table(
    "dag_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("team", sa.String(100), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("run_type", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("dag_versions.id"), nullable=False),
    # The run is pinned to this commit of this repository: every attempt runs that code.
    sa.Column("repo", sa.String(100), nullable=False, server_default="dags"),
    sa.Column("code_version", sa.String(64), nullable=False, server_default=""),
    sa.Column("logical_date", UtcDateTime, nullable=False),
    sa.Column("data_interval_start", UtcDateTime, nullable=False),
    sa.Column("data_interval_end", UtcDateTime, nullable=False),
    sa.Column("conf", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("start_date", UtcDateTime, nullable=True),
    sa.Column("end_date", UtcDateTime, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.UniqueConstraint("team", "dag_id", "run_id", name="uq_run_id"),
    sa.Index("ix_dag_runs_state", "state"),
    sa.Index("ix_dag_runs_dag", "team", "dag_id", "logical_date"),
    sa.Index("ix_dag_runs_code", "repo", "state"),
)

repos = sa.Table(
    "repos",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("team", sa.String(100), nullable=False),
    sa.Column("url", sa.String(1000), nullable=False),
    # Where the DAG files are in a commit, for workers whose API has no [repos.NAME] table.
    sa.Column("subdir", sa.String(1000), nullable=False, default=""),
    sa.Column("current_sha", sa.String(64), nullable=True),
    sa.Column("published_at", UtcDateTime, nullable=True),
    sa.Column("last_sync_at", UtcDateTime, nullable=True),
    sa.Column("last_success_at", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("error_kind", sa.String(20), nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("sync_requested_at", UtcDateTime, nullable=True),
)

task_instances = sa.Table(
    "task_instances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "run_pk", sa.Integer, sa.ForeignKey("dag_runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("try_number", sa.Integer, nullable=False, default=0),
    # Tries before this number were used up before the last clear; retries count from here.
    sa.Column("retry_base", sa.Integer, nullable=False, default=0),
    sa.Column("queued_at", UtcDateTime, nullable=True),
    sa.Column("start_date", UtcDateTime, nullable=True),
    sa.Column("end_date", UtcDateTime, nullable=True),
    sa.Column("next_try_at", UtcDateTime, nullable=True),
    sa.Column("heartbeat_at", UtcDateTime, nullable=True),
    sa.Column("hostname", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("return_value", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # sha256 of the current try's execution token (core/tokens.py); the token is never stored.
    sa.Column("token_digest", sa.String(64), nullable=True),
    # The scheduler that queued the current try and supervises it, and the epoch of its lease
    # then (ADR 0019): its writes on the attempt carry both, so a fenced one changes nothing.
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("owner_epoch", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("run_pk", "task_id", name="uq_ti"),
    sa.Index("ix_ti_state", "state"),
    sa.Index("ix_ti_owner", "owner"),
)

task_attempts = sa.Table(
    "task_attempts",
    metadata,
    sa.Column(
        "ti_id",
        sa.Integer,
        sa.ForeignKey("task_instances.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("try_number", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("queued_at", UtcDateTime, nullable=True),
    sa.Column("start_date", UtcDateTime, nullable=True),
    sa.Column("end_date", UtcDateTime, nullable=True),
    sa.Column("hostname", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # The commit this try ran: its run's when it was queued (a clear on the latest commit
    # re-pins the run, so one run's tries may differ).
    sa.Column("code_version", sa.String(64), nullable=True),
)

# The change outbox (ADR 0017): one row per object a transaction changed, written in that
# transaction, so a reader that follows `id` learns every change once and in commit order.
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(600), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,  # ids never reused, even after every row was pruned
)

# Leases on the database's clock (ADR 0019): who holds a duty, since which epoch, until when.
# Times are seconds since the epoch as the database tells them (`leases.db_now`).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("renewed_at", sa.Float, nullable=False),
)

# Pools (ADR 0020): named slot limits of a team. `configured` is False for a team's default
# pool while its size comes from `[pools] default_slots`.
pools = sa.Table(
    "pools",
    metadata,
    sa.Column("team", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("slots", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("configured", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_at", UtcDateTime, nullable=True),
)

# One row per slot of a pool, held by the task instance whose queued or running attempt took
# it (NULL: free). Claimed with FOR UPDATE SKIP LOCKED, so schedulers never wait on one hot
# row. A retired row (a pool shrunk below its usage) is deleted when released.
pool_slots = sa.Table(
    "pool_slots",
    metadata,
    sa.Column("team", sa.String(100), primary_key=True),
    sa.Column("pool", sa.String(100), primary_key=True),
    sa.Column("slot_no", sa.Integer, primary_key=True),
    sa.Column(
        "ti_id",
        sa.Integer,
        sa.ForeignKey("task_instances.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("retired", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_pool_slots_ti", "ti_id"),
    sa.Index("ix_pool_slots_retired", "retired"),
)

# The transition record: one row per move of a task instance, written in the transaction of
# the move (`guards.guarded_update`): from which state to which, at which try, who moved it
# (`actors`) with its lease epoch, at the database's time. Read per task (its history), and by
# the chaos suite's checker. Goes with its task instance (and so with its run).
task_transitions = sa.Table(
    "task_transitions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "ti_id", sa.Integer, sa.ForeignKey("task_instances.id", ondelete="CASCADE"), nullable=False
    ),
    # The task instance's run, so a run's moves are read by index (newest first, paged).
    sa.Column("run_pk", sa.Integer, nullable=False),
    sa.Column("try_number", sa.Integer, nullable=False),
    sa.Column("from_state", sa.String(20), nullable=False),
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_task_transitions_ti", "ti_id", "id"),
    sa.Index("ix_task_transitions_run", "run_pk", "id"),
)

# The audit record (docs/adr/0030-audit-record.md): one row per action a person asked for,
# written after the action by `control.audit`, never updated. `actor` is who asked (today the
# API itself: there are no users yet), `address` the client's, `via` "ui" or "rest".
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("address", sa.String(100), nullable=False, server_default=""),
    sa.Column("via", sa.String(10), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("team", sa.String(100), nullable=False),
    sa.Column("target", sa.String(1000), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Index("ix_audit_log_team", "team", "id"),
    sa.Index("ix_audit_log_action", "action", "id"),
    sqlite_autoincrement=True,
)

# The parse outcome of each commit of a git repository (`store/commitparses.py`), written by
# the DAG processor after it parsed the commit: the repository page's "did my push land?" and
# the import-errors page's "resolved in <sha>". A commit parsed again replaces its row.
commit_parses = sa.Table(
    "commit_parses",
    metadata,
    sa.Column("repo", sa.String(100), primary_key=True),
    sa.Column("code_version", sa.String(64), primary_key=True),
    sa.Column("team", sa.String(100), nullable=False),
    sa.Column("parsed_at", UtcDateTime, nullable=False),
    sa.Column("files_parsed", sa.Integer, nullable=False),
    sa.Column("added", sa.JSON, nullable=False),  # DAG ids
    sa.Column("changed", sa.JSON, nullable=False),  # DAG ids whose structure changed
    sa.Column("removed", sa.JSON, nullable=False),  # DAG ids
    sa.Column("errors", sa.JSON, nullable=False),  # [{"file", "lineno", "message"}]
    sa.Column("resolved", sa.JSON, nullable=False),  # files whose import error went away
    sa.Index("ix_commit_parses_parsed_at", "repo", "parsed_at"),
)
