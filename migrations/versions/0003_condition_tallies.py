"""Condition tallies kept by triggers; in-progress index on (slug, status, last_seen_at).

Revision ID: 0003_condition_tallies
Revises: 0002_researchers_hits_limits
Create Date: 2026-11-22

"""
import sqlalchemy as sa
from alembic import op

from experiment_host import tallies

revision = "0003_condition_tallies"
down_revision = "0002_researchers_hits_limits"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "condition_tallies",
        sa.Column("experiment_slug", sa.String(length=64), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_slug", "condition", name=op.f("pk_condition_tallies")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_experiment_status")
        batch_op.create_index("ix_runs_experiment_status_seen",
                              ["experiment_slug", "status", "last_seen_at"], unique=False)
    for statement in tallies.statements(op.get_bind().dialect.name) + tallies.BACKFILL:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS runs_tally ON runs")
        op.execute("DROP FUNCTION IF EXISTS runs_tally()")
    else:
        for name in ("insert", "update_old", "update_new", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS runs_tally_{name}")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_experiment_status_seen")
        batch_op.create_index("ix_runs_experiment_status", ["experiment_slug", "status"],
                              unique=False)
    op.drop_table("condition_tallies")
