"""The parse outcome of each commit of a git repository: DAGs added, changed (structure),
removed, the files that failed and the files whose import error that commit resolved.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commit_parses",
        sa.Column("repo", sa.String(length=100), primary_key=True),
        sa.Column("code_version", sa.String(length=64), primary_key=True),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("parsed_at", sa.DateTime, nullable=False),
        sa.Column("files_parsed", sa.Integer, nullable=False),
        sa.Column("added", sa.JSON, nullable=False),
        sa.Column("changed", sa.JSON, nullable=False),
        sa.Column("removed", sa.JSON, nullable=False),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("resolved", sa.JSON, nullable=False),
    )
    op.create_index("ix_commit_parses_parsed_at", "commit_parses", ["repo", "parsed_at"])


def downgrade() -> None:
    op.drop_index("ix_commit_parses_parsed_at", table_name="commit_parses")
    op.drop_table("commit_parses")
