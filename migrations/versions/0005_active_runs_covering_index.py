"""The index behind the abandonment cutoff also holds the condition (covering index).

An arrival counts the in-progress runs seen lately per condition; with the condition in
the index, that count reads index entries only.

Revision ID: 0005_active_runs_covering_index
Revises: 0004_experiment_columns
Create Date: 2026-11-22

"""
from alembic import op

revision = "0005_active_runs_covering_index"
down_revision = "0004_experiment_columns"
branch_labels = None
depends_on = None

COLUMNS = ["experiment_slug", "status", "last_seen_at"]


def upgrade():
    op.create_index("ix_runs_experiment_status_seen_condition", "runs", [*COLUMNS, "condition"])
    op.drop_index("ix_runs_experiment_status_seen", table_name="runs")


def downgrade():
    op.create_index("ix_runs_experiment_status_seen", "runs", COLUMNS)
    op.drop_index("ix_runs_experiment_status_seen_condition", table_name="runs")
