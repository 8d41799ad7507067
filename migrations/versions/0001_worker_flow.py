"""Worker flow: experiments, runs and trial records.

Revision ID: 0001_worker_flow
Revises:
Create Date: 2026-11-22

"""
import sqlalchemy as sa
from alembic import op

import experiment_host.models

revision = "0001_worker_flow"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('experiments',
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('previews', sa.Integer(), nullable=False),
    sa.Column('arrivals', sa.Integer(), nullable=False),
    sa.Column('created_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('slug', name=op.f('pk_experiments'))
    )
    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_slug', sa.String(length=64), nullable=False),
    sa.Column('platform', sa.Enum('mturk', 'prolific', 'link', name='platform', native_enum=False, length=20), nullable=False),
    sa.Column('worker_id', sa.String(length=255), nullable=False),
    sa.Column('session_key', sa.String(length=255), nullable=False),
    sa.Column('study_key', sa.String(length=255), nullable=True),
    sa.Column('submit_to', sa.String(length=255), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('condition', sa.String(length=64), nullable=True),
    sa.Column('status', sa.Enum('in_progress', 'completed', 'submitted', 'approved', 'rejected', 'returned', 'abandoned', 'declined', name='run_status', native_enum=False, length=20), nullable=False),
    sa.Column('record_count', sa.Integer(), nullable=False),
    sa.Column('completion_code', sa.String(length=64), nullable=True),
    sa.Column('bonus_cents', sa.Integer(), nullable=True),
    sa.Column('bonus_reason', sa.Text(), nullable=True),
    sa.Column('user_agent', sa.Text(), nullable=True),
    sa.Column('created_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.Column('consented_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.Column('last_seen_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.Column('completed_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.Column('submitted_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.Column('reviewed_at', experiment_host.models.UTCDateTime(), nullable=True),
    sa.CheckConstraint('attempt >= 1', name=op.f('ck_runs_attempt_positive')),
    sa.CheckConstraint('record_count >= 0', name=op.f('ck_runs_record_count_not_negative')),
    sa.ForeignKeyConstraint(['experiment_slug'], ['experiments.slug'], name=op.f('fk_runs_experiment_slug_experiments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs')),
    sa.UniqueConstraint('experiment_slug', 'platform', 'session_key', name=op.f('uq_runs_experiment_slug_platform_session_key')),
    sa.UniqueConstraint('experiment_slug', 'platform', 'worker_id', 'attempt', name=op.f('uq_runs_experiment_slug_platform_worker_id_attempt'))
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_experiment_condition', ['experiment_slug', 'condition', 'status'], unique=False)
        batch_op.create_index('ix_runs_experiment_status', ['experiment_slug', 'status'], unique=False)
    op.create_table('trial_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('received_at', experiment_host.models.UTCDateTime(), nullable=False),
    sa.CheckConstraint('seq >= 0', name=op.f('ck_trial_records_seq_not_negative')),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_trial_records_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trial_records')),
    sa.UniqueConstraint('run_id', 'seq', name=op.f('uq_trial_records_run_id_seq'))
    )


def downgrade():
    op.drop_table("trial_records")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_experiment_status")
        batch_op.drop_index("ix_runs_experiment_condition")
    op.drop_table("runs")
    op.drop_table("experiments")
