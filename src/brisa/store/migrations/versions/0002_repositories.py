"""Repositories: DAGs and runs carry their source repository and commit; repository status.

Revision ID: 0002
Revises: 0001

Existing DAGs came from `[dags] folder`, which goes by the repository name 'dags'. Import
errors are recreated with the repository in their key (the DAG processor records them again
on its first pass after a start).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dags") as batch:
        batch.add_column(
            sa.Column("repo", sa.String(length=100), nullable=False, server_default="dags")
        )
        batch.add_column(
            sa.Column("code_version", sa.String(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("dag_runs") as batch:
        batch.add_column(
            sa.Column("repo", sa.String(length=100), nullable=False, server_default="dags")
        )
        batch.add_column(
            sa.Column("code_version", sa.String(length=64), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE dag_runs SET code_version = (SELECT v.code_version FROM dag_versions v "
        "WHERE v.id = dag_runs.version_id)"
    )
    op.execute(
        "UPDATE dags SET code_version = (SELECT v.code_version FROM dag_versions v "
        "WHERE v.id = dags.version_id)"
    )
    op.drop_table("import_errors")
    op.create_table(
        "import_errors",
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("repo", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=1000), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("lineno", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team", "repo", "filename"),
    )
    op.create_table(
        "repos",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("subdir", sa.String(length=1000), nullable=False),
        sa.Column("current_sha", sa.String(length=64), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.String(length=20), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("sync_requested_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_dag_runs_code", "dag_runs", ["repo", "state"])


def downgrade() -> None:
    op.drop_index("ix_dag_runs_code", "dag_runs")
    op.drop_table("repos")
    op.drop_table("import_errors")
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
    with op.batch_alter_table("dag_runs") as batch:
        batch.drop_column("code_version")
        batch.drop_column("repo")
    with op.batch_alter_table("dags") as batch:
        batch.drop_column("code_version")
        batch.drop_column("repo")
