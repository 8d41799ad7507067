"""Batch places: a study link's run reserves its batch place before it is created, so that
simultaneous arrivals cannot take more places than the batch's maximum. The runs that
links started so far get their places from their link entries.

Revision ID: 0016_link_places
Revises: 0015_lab
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

from experiment_host.models import UTCDateTime

revision = "0016_link_places"
down_revision = "0015_lab"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "link_places",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("session_key", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["link_batches.id"],
                                name=op.f("fk_link_places_batch_id_link_batches")),
        sa.PrimaryKeyConstraint("batch_id", "session_key", name=op.f("pk_link_places")),
    )
    op.execute(
        "INSERT INTO link_places (batch_id, session_key, created_at) "
        "SELECT study_links.batch_id, runs.session_key, MIN(link_entries.created_at) "
        "FROM link_entries "
        "JOIN study_links ON study_links.id = link_entries.link_id "
        "JOIN runs ON runs.id = link_entries.run_id "
        "GROUP BY study_links.batch_id, runs.session_key")


def downgrade():
    op.drop_table("link_places")
