"""Leases on database time and the owner of each queued or running attempt (ADR 0019).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), primary_key=True),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        # Seconds since the epoch on the database's clock, never a process's.
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("renewed_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("task_instances") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("owner_epoch", sa.BigInteger, nullable=True))
        batch.create_index("ix_ti_owner", ["owner"])


def downgrade() -> None:
    with op.batch_alter_table("task_instances") as batch:
        batch.drop_index("ix_ti_owner")
        batch.drop_column("owner_epoch")
        batch.drop_column("owner")
    op.drop_table("leases")
