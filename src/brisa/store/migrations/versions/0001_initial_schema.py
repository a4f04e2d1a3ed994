"""Initial schema: DAGs, versions, import errors, runs, task instances, attempts.

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dag_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("structure_hash", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "team", "dag_id", "structure_hash", "code_version", name="uq_dag_version"
        ),
    )
    op.create_table(
        "dags",
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("fileloc", sa.String(length=1000), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("last_parsed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team", "dag_id"),
    )
    op.create_table(
        "import_errors",
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=1000), nullable=False),
        sa.Column("lineno", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team", "filename"),
    )
    op.create_table(
        "dag_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("run_type", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("logical_date", sa.DateTime(), nullable=False),
        sa.Column("data_interval_start", sa.DateTime(), nullable=False),
        sa.Column("data_interval_end", sa.DateTime(), nullable=False),
        sa.Column("conf", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("start_date", sa.DateTime(), nullable=True),
        sa.Column("end_date", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dag_versions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team", "dag_id", "run_id", name="uq_run_id"),
    )
    with op.batch_alter_table("dag_runs", schema=None) as batch_op:
        batch_op.create_index("ix_dag_runs_dag", ["team", "dag_id", "logical_date"], unique=False)
        batch_op.create_index("ix_dag_runs_state", ["state"], unique=False)

    op.create_table(
        "task_instances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("retry_base", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column("start_date", sa.DateTime(), nullable=True),
        sa.Column("end_date", sa.DateTime(), nullable=True),
        sa.Column("next_try_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("return_value", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_pk"], ["dag_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_pk", "task_id", name="uq_ti"),
    )
    with op.batch_alter_table("task_instances", schema=None) as batch_op:
        batch_op.create_index("ix_ti_state", ["state"], unique=False)

    op.create_table(
        "task_attempts",
        sa.Column("ti_id", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column("start_date", sa.DateTime(), nullable=True),
        sa.Column("end_date", sa.DateTime(), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["ti_id"], ["task_instances.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ti_id", "try_number"),
    )


def downgrade() -> None:
    op.drop_table("task_attempts")
    with op.batch_alter_table("task_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_ti_state")

    op.drop_table("task_instances")
    with op.batch_alter_table("dag_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_dag_runs_state")
        batch_op.drop_index("ix_dag_runs_dag")

    op.drop_table("dag_runs")
    op.drop_table("import_errors")
    op.drop_table("dags")
    op.drop_table("dag_versions")
