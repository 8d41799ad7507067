"""Column registry for trials.csv (experiment_columns), backfilled from the stored records.

The backfill reads every record in batches, by run then seq (the order the export used to
find columns in), so the header of existing experiments keeps its column order.

Revision ID: 0004_experiment_columns
Revises: 0003_condition_tallies
Create Date: 2026-11-22

"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

from experiment_host import saving

revision = "0004_experiment_columns"
down_revision = "0003_condition_tallies"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "experiment_columns",
        sa.Column("experiment_slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("in_trials", sa.Boolean(), nullable=False),
        sa.Column("in_checkpoints", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_slug"], ["experiments.slug"],
                                name=op.f("fk_experiment_columns_experiment_slug_experiments")),
        sa.PrimaryKeyConstraint("experiment_slug", "name", name=op.f("pk_experiment_columns")),
        sa.UniqueConstraint("experiment_slug", "position",
                            name=op.f("uq_experiment_columns_experiment_slug_position")),
    )
    saving.backfill_columns(op.get_bind(), current_app.config["EXPORT_MAX_COLUMNS"])


def downgrade():
    op.drop_table("experiment_columns")
