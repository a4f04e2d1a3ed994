"""The transition record by run: each move names its task instance's run (`run_pk`), indexed
with the move's id, so a run's events page newest first straight from the index (the run
page's Events tab, `GET …/runs/{run_id}/events`). Moves recorded before are given theirs.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_transitions") as batch:
        batch.add_column(sa.Column("run_pk", sa.Integer, nullable=True))
    op.execute(
        "UPDATE task_transitions SET run_pk = "
        "(SELECT task_instances.run_pk FROM task_instances "
        "WHERE task_instances.id = task_transitions.ti_id)"
    )
    with op.batch_alter_table("task_transitions") as batch:
        batch.alter_column("run_pk", existing_type=sa.Integer, nullable=False)
        batch.create_index("ix_task_transitions_run", ["run_pk", "id"])


def downgrade() -> None:
    with op.batch_alter_table("task_transitions") as batch:
        batch.drop_index("ix_task_transitions_run")
        batch.drop_column("run_pk")
