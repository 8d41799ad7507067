"""No index on runs.record_count, which every save changes.

With no indexed column changed, PostgreSQL rewrites a run's row within its page at each
save (a HOT update) instead of adding an entry to every index of the table.

Revision ID: 0007_saves_keep_run_indexes
Revises: 0006_in_progress_tallies
Create Date: 2026-12-03

"""
from alembic import op

revision = "0007_saves_keep_run_indexes"
down_revision = "0006_in_progress_tallies"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_runs_experiment_record_count", table_name="runs")


def downgrade():
    op.create_index("ix_runs_experiment_record_count", "runs", ["experiment_slug", "record_count"])
