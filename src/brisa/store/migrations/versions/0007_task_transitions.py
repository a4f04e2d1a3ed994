"""The transition record: every move of a task instance, who made it, when (database time).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column(
            "ti_id",
            sa.Integer,
            sa.ForeignKey("task_instances.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=False),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=True),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_task_transitions_ti", "task_transitions", ["ti_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_task_transitions_ti", table_name="task_transitions")
    op.drop_table("task_transitions")
