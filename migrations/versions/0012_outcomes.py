"""Runs record their outcome (how the task ended them: completed, screened out, ...), so the
done page sends the outcome's completion code and the export shows it.

Runs that completed before outcomes existed completed normally: they get "completed".

Revision ID: 0012_outcomes
Revises: 0011_run_caps
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

revision = "0012_outcomes"
down_revision = "0011_run_caps"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on every database (SQLite 3.35+ drops a column in place): a batch
# migration would copy the runs table on SQLite and lose its tally triggers.
def upgrade():
    op.add_column("runs", sa.Column("outcome", sa.String(length=32), nullable=True))
    op.execute("UPDATE runs SET outcome = 'completed' WHERE completed_at IS NOT NULL")


def downgrade():
    op.drop_column("runs", "outcome")
