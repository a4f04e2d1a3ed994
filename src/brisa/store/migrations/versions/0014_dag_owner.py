"""Each DAG version's owner as a column, so the DAG list filters by owner and the owner
typeahead lists owners in the database (UI.md A.2.2), filled from the versions already stored
(a spec names its owner under "owner" only when it has one).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_versions = sa.table(
    "dag_versions",
    sa.column("id", sa.Integer),
    sa.column("spec", sa.JSON),
    sa.column("owner", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("dag_versions") as batch:
        batch.add_column(sa.Column("owner", sa.Text, nullable=True))
    op.create_index("ix_dag_versions_owner", "dag_versions", ["owner"])
    conn = op.get_bind()
    owned = [
        (version_id, (spec or {}).get("owner"))
        for version_id, spec in conn.execute(sa.select(_versions.c.id, _versions.c.spec))
    ]
    for version_id, owner in owned:
        if isinstance(owner, str) and owner:
            conn.execute(_versions.update().where(_versions.c.id == version_id).values(owner=owner))


def downgrade() -> None:
    op.drop_index("ix_dag_versions_owner", table_name="dag_versions")
    with op.batch_alter_table("dag_versions") as batch:
        batch.drop_column("owner")
