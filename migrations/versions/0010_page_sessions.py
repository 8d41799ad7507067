"""runs.page_key: the key of a run's latest page, which its token claims.

Every page served for a run (consent, task) gives it a fresh key, so a page that was
superseded by a later one (another tab, a reload) can no longer save. Existing runs get
their session key as page key: tokens issued before this revision claim that key, so pages
already open keep saving until the run's next page is served. No index (saves must stay
HOT updates, see run_guard.py).

Revision ID: 0010_page_sessions
Revises: 0008_identity
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

revision = "0010_page_sessions"
down_revision = "0008_identity"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("runs", sa.Column("page_key", sa.String(length=64), nullable=True))
    op.execute("UPDATE runs SET page_key = session_key")


def downgrade():
    # A plain DROP COLUMN (SQLite 3.35+): rebuilding the table would lose its tally triggers.
    op.drop_column("runs", "page_key")
