"""Prolific: the studies `flask prolific` created, the submission statuses it saw, its
bonus ledger (set up, paying, paid) and the messages it sent.

Revision ID: 0013_prolific
Revises: 0011_run_caps
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

import experiment_host.models

revision = "0013_prolific"
down_revision = "0012_outcomes"
branch_labels = None
depends_on = None

UTC = experiment_host.models.UTCDateTime


def upgrade():
    op.create_table(
        "prolific_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_url", sa.String(length=255), nullable=False),
        sa.Column("experiment_slug", sa.String(length=64), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("internal_name", sa.String(length=128), nullable=False),
        sa.Column("study_id", sa.String(length=64), nullable=True),
        sa.Column("reward_cents", sa.Integer(), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prolific_studies")),
        sa.UniqueConstraint("api_url", "internal_name",
                            name=op.f("uq_prolific_studies_api_url_internal_name")),
        sa.UniqueConstraint("api_url", "study_id", name=op.f("uq_prolific_studies_api_url_study_id")),
    )
    op.create_index(op.f("ix_prolific_studies_experiment_slug"), "prolific_studies",
                    ["experiment_slug"])
    op.create_table(
        "prolific_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_url", sa.String(length=255), nullable=False),
        sa.Column("study_id", sa.String(length=64), nullable=False),
        sa.Column("submission_id", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prolific_submissions")),
        sa.UniqueConstraint("api_url", "submission_id",
                            name=op.f("uq_prolific_submissions_api_url_submission_id")),
    )
    op.create_index(op.f("ix_prolific_submissions_study_id"), "prolific_submissions",
                    ["study_id"])
    op.create_table(
        "prolific_bonuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_url", sa.String(length=255), nullable=False),
        sa.Column("study_id", sa.String(length=64), nullable=False),
        sa.Column("submission_id", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.Enum("planned", "set_up", "paying", "paid",
                                   name="prolific_bonus_state", native_enum=False, length=20),
                  nullable=False),
        sa.Column("bulk_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("paid_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prolific_bonuses")),
        sa.UniqueConstraint("api_url", "submission_id",
                            name=op.f("uq_prolific_bonuses_api_url_submission_id")),
    )
    op.create_index(op.f("ix_prolific_bonuses_study_id"), "prolific_bonuses", ["study_id"])
    op.create_table(
        "prolific_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_url", sa.String(length=255), nullable=False),
        sa.Column("study_id", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("sent_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prolific_messages")),
        sa.UniqueConstraint("api_url", "study_id", "participant_id", "body_hash",
                            name=op.f("uq_prolific_messages_api_url_study_id_participant_id_body_hash")),
    )


def downgrade():
    op.drop_table("prolific_messages")
    op.drop_index(op.f("ix_prolific_bonuses_study_id"), table_name="prolific_bonuses")
    op.drop_table("prolific_bonuses")
    op.drop_index(op.f("ix_prolific_submissions_study_id"), table_name="prolific_submissions")
    op.drop_table("prolific_submissions")
    op.drop_index(op.f("ix_prolific_studies_experiment_slug"), table_name="prolific_studies")
    op.drop_table("prolific_studies")
