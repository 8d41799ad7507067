"""Condition tallies also count the runs in progress.

An arrival then reads the count of runs in progress from the tally and subtracts only those
not seen within the abandonment window, instead of counting every run in progress.

Revision ID: 0006_in_progress_tallies
Revises: 0005_active_runs_covering_index
Create Date: 2026-11-22

"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0006_in_progress_tallies"
down_revision = "0005_active_runs_covering_index"
branch_labels = None
depends_on = None

# The triggers as this revision made them; 0015 replaces them. Written out here so that this
# revision builds the same schema whatever experiment_host.tallies says today.
_COUNTED = "'completed', 'submitted', 'approved'"
_TRACKED = "{row}.status IN (" + _COUNTED + ", 'in_progress') AND {row}.condition IS NOT NULL"
_HELD = "CAST({row}.status IN (" + _COUNTED + ") AS INTEGER)"
_PROGRESS = "CAST({row}.status = 'in_progress' AS INTEGER)"
_ADD = ("INSERT INTO condition_tallies (experiment_slug, condition, held, in_progress) "
        "VALUES ({row}.experiment_slug, {row}.condition, " + _HELD + ", " + _PROGRESS + ") "
        "ON CONFLICT (experiment_slug, condition) DO UPDATE "
        "SET held = condition_tallies.held + excluded.held, "
        "in_progress = condition_tallies.in_progress + excluded.in_progress;")
_REMOVE = ("UPDATE condition_tallies "
           "SET held = held - " + _HELD + ", in_progress = in_progress - " + _PROGRESS + " "
           "WHERE experiment_slug = {row}.experiment_slug AND condition = {row}.condition;")
_SQLITE = (("insert", "INSERT", "NEW", _ADD),
           ("update_old", "UPDATE OF status, condition", "OLD", _REMOVE),
           ("update_new", "UPDATE OF status, condition", "NEW", _ADD),
           ("delete", "DELETE", "OLD", _REMOVE))
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS runs_tally_{name} AFTER {event} ON runs "
    f"WHEN {_TRACKED.format(row=row)} BEGIN {body.format(row=row)} END"
    for name, event, row, body in _SQLITE
]
POSTGRESQL_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION runs_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND {_TRACKED.format(row='OLD')} THEN
            {_REMOVE.format(row='OLD')}
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND {_TRACKED.format(row='NEW')} THEN
            {_ADD.format(row='NEW')}
        END IF;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS runs_tally ON runs",
    "CREATE TRIGGER runs_tally AFTER INSERT OR DELETE OR UPDATE OF status, condition ON runs "
    "FOR EACH ROW EXECUTE FUNCTION runs_tally()",
]
BACKFILL = [
    "DELETE FROM condition_tallies",
    "INSERT INTO condition_tallies (experiment_slug, condition, held, in_progress) "
    f"SELECT experiment_slug, condition, SUM({_HELD.format(row='runs')}), "
    f"SUM({_PROGRESS.format(row='runs')}) FROM runs WHERE {_TRACKED.format(row='runs')} "
    "GROUP BY experiment_slug, condition",
]


def drop_statements(dialect):
    """Remove the triggers (of this revision or of 0003: same names)."""
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS runs_tally ON runs", "DROP FUNCTION IF EXISTS runs_tally()"]
    return [f"DROP TRIGGER IF EXISTS runs_tally_{name}" for name, *_ in _SQLITE]


def statements(dialect):
    """This revision's trigger DDL for ``dialect``."""
    return POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS


def upgrade():
    dialect = op.get_bind().dialect.name
    op.add_column("condition_tallies",
                  sa.Column("in_progress", sa.Integer(), nullable=False, server_default="0"))
    for statement in drop_statements(dialect) + statements(dialect):
        op.execute(statement)
    for statement in BACKFILL:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in drop_statements(dialect):
        op.execute(statement)
    with op.batch_alter_table("condition_tallies", schema=None) as batch_op:
        batch_op.drop_column("in_progress")
    held_only = _revision_0003()
    triggers = held_only.POSTGRESQL_TRIGGERS if dialect == "postgresql" else held_only.SQLITE_TRIGGERS
    for statement in [*triggers, "DELETE FROM condition_tallies", held_only.BACKFILL]:
        op.execute(statement)


def _revision_0003():
    """Revision 0003, which holds the held-only triggers this downgrade puts back."""
    path = Path(__file__).with_name("0003_condition_tallies.py")
    spec = importlib.util.spec_from_file_location("revision_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
