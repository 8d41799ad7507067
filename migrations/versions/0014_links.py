"""Study links: batches, links (token, study code, type, comment, switch) and the link each
link run entered through, with the entry's query parameters.

Revision ID: 0014_links
Revises: 0011_run_caps
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

from experiment_host.models import UTCDateTime

revision = "0014_links"
down_revision = "0013_prolific"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "link_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("max_participants", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("allowed_types", sa.String(length=120), nullable=False),
        sa.Column("end_redirect_url", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_batches")),
        sa.UniqueConstraint("experiment_slug", "name",
                            name=op.f("uq_link_batches_experiment_slug_name")),
    )
    op.create_table(
        "study_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("link_type", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("confirm_first", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["link_batches.id"],
                                name=op.f("fk_study_links_batch_id_link_batches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_links")),
        sa.UniqueConstraint("token", name=op.f("uq_study_links_token")),
        sa.UniqueConstraint("code", name=op.f("uq_study_links_code")),
    )
    op.create_index(op.f("ix_study_links_batch_id"), "study_links", ["batch_id"])
    op.create_table(
        "link_entries",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_link_entries_run_id_runs")),
        sa.ForeignKeyConstraint(["link_id"], ["study_links.id"],
                                name=op.f("fk_link_entries_link_id_study_links")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_link_entries")),
    )
    op.create_index(op.f("ix_link_entries_link_id"), "link_entries", ["link_id"])


def downgrade():
    op.drop_index(op.f("ix_link_entries_link_id"), table_name="link_entries")
    op.drop_table("link_entries")
    op.drop_index(op.f("ix_study_links_batch_id"), table_name="study_links")
    op.drop_table("study_links")
    op.drop_table("link_batches")
