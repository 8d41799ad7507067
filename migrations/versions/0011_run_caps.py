"""Per-run caps and logouts that last: runs count their stored bytes and the trials.csv
columns they added; researchers get a session generation that each logout moves on.

Runs in progress get their stored bytes counted from their records (UTF-8 bytes of each
record's data as JSON text, as saves count them); the others keep 0, since they store no
more records.

Revision ID: 0011_run_caps
Revises: 0010_page_sessions
Create Date: 2026-12-05

"""
import sqlalchemy as sa
from alembic import op

revision = "0011_run_caps"
down_revision = "0010_page_sessions"
branch_labels = None
depends_on = None

#: The size of a record's data, as each database measures UTF-8 text.
_SIZE = {"postgresql": "octet_length(CAST(data AS text))",
         "sqlite": "length(CAST(data AS BLOB))"}


def upgrade():
    with op.batch_alter_table("runs") as runs:
        runs.add_column(sa.Column("stored_bytes", sa.BigInteger(), server_default="0",
                                  nullable=False))
        runs.add_column(sa.Column("columns_added", sa.Integer(), server_default="0",
                                  nullable=False))
    with op.batch_alter_table("researchers") as researchers:
        researchers.add_column(sa.Column("session_generation", sa.Integer(), server_default="0",
                                         nullable=False))
    size = _SIZE.get(op.get_bind().dialect.name, _SIZE["postgresql"])
    op.execute(f"UPDATE runs SET stored_bytes = (SELECT coalesce(sum({size}), 0) "
               "FROM trial_records WHERE trial_records.run_id = runs.id) "
               "WHERE status = 'in_progress'")


def downgrade():
    with op.batch_alter_table("researchers") as researchers:
        researchers.drop_column("session_generation")
    with op.batch_alter_table("runs") as runs:
        runs.drop_column("columns_added")
        runs.drop_column("stored_bytes")
