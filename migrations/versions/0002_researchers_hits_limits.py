"""Researcher accounts, MTurk HITs and bonuses, rate limits, run counters, dashboard indexes.

Revision ID: 0002_researchers_hits_limits
Revises: 0001_worker_flow
Create Date: 2026-11-22

"""
import sqlalchemy as sa
from alembic import op

import experiment_host.models

revision = "0002_researchers_hits_limits"
down_revision = "0001_worker_flow"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('window', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures')),
    sa.UniqueConstraint('username', 'ip', 'window', name=op.f('uq_login_failures_username_ip_window'))
    )
    op.create_table('mturk_bonus_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=255), nullable=False),
    sa.Column('assignment_id', sa.String(length=64), nullable=False),
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('request_token', sa.String(length=64), nullable=False),
    sa.Column('paid_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mturk_bonus_payments')),
    sa.UniqueConstraint('endpoint', 'assignment_id', name=op.f('uq_mturk_bonus_payments_endpoint_assignment_id'))
    )
    op.create_table('mturk_exclusion_qualifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=255), nullable=False),
    sa.Column('experiment_slug', sa.String(length=64), nullable=False),
    sa.Column('qualification_type_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mturk_exclusion_qualifications')),
    sa.UniqueConstraint('endpoint', 'experiment_slug', name=op.f('uq_mturk_exclusion_qualifications_endpoint_experiment_slug'))
    )
    op.create_table('mturk_hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=255), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('hit_id', sa.String(length=64), nullable=False),
    sa.Column('hit_group_id', sa.String(length=64), nullable=False),
    sa.Column('experiment_slug', sa.String(length=64), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('batch_index', sa.Integer(), nullable=False),
    sa.Column('batch_count', sa.Integer(), nullable=False),
    sa.Column('request_token', sa.String(length=64), nullable=False),
    sa.Column('max_assignments', sa.Integer(), nullable=False),
    sa.Column('reward_cents', sa.Integer(), nullable=False),
    sa.Column('created_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.Column('expires_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.Column('deleted_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mturk_hits')),
    sa.UniqueConstraint('endpoint', 'hit_id', name=op.f('uq_mturk_hits_endpoint_hit_id')),
    sa.UniqueConstraint('endpoint', 'request_token', name=op.f('uq_mturk_hits_endpoint_request_token'))
    )
    with op.batch_alter_table('mturk_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mturk_hits_experiment_slug'), ['experiment_slug'], unique=False)
    op.create_table('rate_limits',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('window', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window', name=op.f('pk_rate_limits'))
    )
    op.create_table('researchers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.Column('last_login_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_researchers')),
    sa.UniqueConstraint('name', name=op.f('uq_researchers_name'))
    )
    op.create_table('researcher_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('researcher_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=16), nullable=False),
    sa.Column('created_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['researcher_id'], ['researchers.id'], name=op.f('fk_researcher_tokens_researcher_id_researchers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_researcher_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_researcher_tokens_token_hash'))
    )

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_seq", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("rate_window", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("rate_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_runs_experiment_completed", ["experiment_slug", "completed_at"], unique=False)
        batch_op.create_index("ix_runs_experiment_last_seen", ["experiment_slug", "last_seen_at"], unique=False)
        batch_op.create_index("ix_runs_experiment_record_count", ["experiment_slug", "record_count"], unique=False)
    # Runs saved before this revision continue numbering after their highest stored seq.
    op.execute(
        "UPDATE runs SET next_seq = COALESCE("
        "(SELECT MAX(seq) + 1 FROM trial_records WHERE trial_records.run_id = runs.id), 0)"
    )


def downgrade():
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_experiment_record_count")
        batch_op.drop_index("ix_runs_experiment_last_seen")
        batch_op.drop_index("ix_runs_experiment_completed")
        batch_op.drop_column("rate_count")
        batch_op.drop_column("rate_window")
        batch_op.drop_column("next_seq")
    op.drop_table("researcher_tokens")
    op.drop_table("researchers")
    op.drop_table("rate_limits")
    with op.batch_alter_table("mturk_hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mturk_hits_experiment_slug"))
    op.drop_table("mturk_hits")
    op.drop_table("mturk_exclusion_qualifications")
    op.drop_table("mturk_bonus_payments")
    op.drop_table("login_failures")
