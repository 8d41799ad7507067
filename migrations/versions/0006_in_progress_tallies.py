"""Condition tallies also count the runs in progress.

An arrival then reads the count of runs in progress from the tally and subtracts only those
not seen within the abandonment window, instead of counting every run in progress.

Revision ID: 0006_in_progress_tallies
Revises: 0005_active_runs_covering_index
Create Date: 2026-11-22

"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from experiment_host import tallies

revision = "0006_in_progress_tallies"
down_revision = "0005_active_runs_covering_index"
branch_labels = None
depends_on = None


def upgrade():
    dialect = op.get_bind().dialect.name
    op.add_column("condition_tallies",
                  sa.Column("in_progress", sa.Integer(), nullable=False, server_default="0"))
    for statement in tallies.drop_statements(dialect) + tallies.statements(dialect):
        op.execute(statement)
    for statement in tallies.BACKFILL:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in tallies.drop_statements(dialect):
        op.execute(statement)
    with op.batch_alter_table("condition_tallies", schema=None) as batch_op:
        batch_op.drop_column("in_progress")
    held_only = _revision_0003()
    triggers = held_only.POSTGRESQL_TRIGGERS if dialect == "postgresql" else held_only.SQLITE_TRIGGERS
    for statement in [*triggers, "DELETE FROM condition_tallies", held_only.BACKFILL]:
        op.execute(statement)


def _revision_0003():
    """Revision 0003, which holds the held-only triggers this downgrade puts back."""
    path = Path(__file__).with_name("0003_condition_tallies.py")
    spec = importlib.util.spec_from_file_location("revision_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
