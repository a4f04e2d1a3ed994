"""Pools: named slot limits per team, as slot rows claimed by queued and running attempts
(ADR 0020).

Attempts that are queued or running at the upgrade take slots of their team's default pool
(created at the default size, 128; the scheduler resizes it to `[pools] default_slots`), so
the pool counts them from the start.

Revision ID: 0006
Revises: 0005
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DEFAULT_POOL = "default_pool"
DEFAULT_SLOTS = 128  # brisa.core.pools.DEFAULT_SLOTS when this revision was written


def upgrade() -> None:
    pools = op.create_table(
        "pools",
        sa.Column("team", sa.String(length=100), primary_key=True),
        sa.Column("name", sa.String(length=100), primary_key=True),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("configured", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    )
    slots = op.create_table(
        "pool_slots",
        sa.Column("team", sa.String(length=100), primary_key=True),
        sa.Column("pool", sa.String(length=100), primary_key=True),
        sa.Column("slot_no", sa.Integer, primary_key=True),
        sa.Column(
            "ti_id",
            sa.Integer,
            sa.ForeignKey("task_instances.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("retired", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_pool_slots_ti", "pool_slots", ["ti_id"])
    op.create_index("ix_pool_slots_retired", "pool_slots", ["retired"])
    _hold_open_attempts(pools, slots)


def _hold_open_attempts(pools: sa.Table, slots: sa.Table) -> None:
    """Give every queued or running task instance one slot of its team's default pool."""
    bind = op.get_bind()
    ti = sa.table("task_instances", sa.column("id"), sa.column("run_pk"), sa.column("state"))
    runs = sa.table("dag_runs", sa.column("id"), sa.column("team"))
    query = (
        sa.select(runs.c.team, ti.c.id)
        .join(runs, runs.c.id == ti.c.run_pk)
        .where(ti.c.state.in_(["queued", "running"]))
        .order_by(runs.c.team, ti.c.id)
    )
    held: dict[str, list[int]] = defaultdict(list)
    for team, ti_id in bind.execute(query):
        held[team].append(ti_id)
    for team, ti_ids in held.items():
        bind.execute(
            pools.insert().values(
                team=team, name=DEFAULT_POOL, slots=DEFAULT_SLOTS, description="", configured=False
            )
        )
        rows = [
            {"team": team, "pool": DEFAULT_POOL, "slot_no": n, "ti_id": ti_id,
             "retired": n >= DEFAULT_SLOTS}
            for n, ti_id in enumerate(ti_ids)
        ]  # fmt: skip
        rows += [
            {"team": team, "pool": DEFAULT_POOL, "slot_no": n, "ti_id": None, "retired": False}
            for n in range(len(ti_ids), DEFAULT_SLOTS)
        ]
        bind.execute(slots.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_pool_slots_retired", "pool_slots")
    op.drop_index("ix_pool_slots_ti", "pool_slots")
    op.drop_table("pool_slots")
    op.drop_table("pools")
