"""Each attempt records the commit it ran (a run re-pinned by a clear on the latest commit
runs its cleared tasks on another commit than its first attempts). Attempts recorded before
are given their run's commit.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_attempts") as batch:
        batch.add_column(sa.Column("code_version", sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE task_attempts SET code_version = (SELECT r.code_version FROM dag_runs r "
        "JOIN task_instances t ON t.run_pk = r.id WHERE t.id = task_attempts.ti_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("task_attempts") as batch:
        batch.drop_column("code_version")
