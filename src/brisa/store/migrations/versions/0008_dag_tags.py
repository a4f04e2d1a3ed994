"""The tags of each DAG version as rows, so the DAG list filters by tag and the tag typeahead
lists tags in the database (UI.md A.5), filled from the versions already stored.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_versions = sa.table("dag_versions", sa.column("id", sa.Integer), sa.column("spec", sa.JSON))


def upgrade() -> None:
    tags = op.create_table(
        "dag_tags",
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("dag_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.Text, primary_key=True),
    )
    op.create_index("ix_dag_tags_tag", "dag_tags", ["tag", "version_id"])
    conn = op.get_bind()
    rows = [
        {"version_id": version_id, "tag": tag}
        for version_id, spec in conn.execute(sa.select(_versions.c.id, _versions.c.spec))
        for tag in sorted(set((spec or {}).get("tags") or ()))
    ]
    if rows:
        op.bulk_insert(tags, rows)


def downgrade() -> None:
    op.drop_index("ix_dag_tags_tag", table_name="dag_tags")
    op.drop_table("dag_tags")
