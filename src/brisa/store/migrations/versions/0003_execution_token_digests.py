"""Execution tokens: the digest of each task instance's current token (ADR 0008).

Revision ID: 0003
Revises: 0002

Tokens used to be derived from the server's secret key; they are now random per attempt and
only their sha256 digest is stored. Attempts queued or running during the upgrade have no
digest: their workers are refused and the attempts are retried (or failed) like lost ones.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instances") as batch:
        batch.add_column(sa.Column("token_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_instances") as batch:
        batch.drop_column("token_digest")
