"""Each import error keeps when its file was first seen failing (`first_seen_at`) across
re-parses of the still-failing file; `created_at` stays the time it was last seen. Errors
recorded before are given their last-seen time (the only one stored).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_errors") as batch:
        batch.add_column(sa.Column("first_seen_at", sa.DateTime, nullable=True))
    op.execute("UPDATE import_errors SET first_seen_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("import_errors") as batch:
        batch.drop_column("first_seen_at")
