"""A host a lab can share: test runs, roles and access, the audit log, registry reloads.

``runs.is_test`` marks pilots, sandbox and simulator runs; the condition tallies leave them
out (the triggers are replaced, the tallies rebuilt) and the arrivals' covering index holds
the flag. Researchers get ``is_admin``: the accounts that exist now become admins, so nobody
loses access by upgrading. API tokens can be read-only or limited to some experiments.
``experiment_access`` holds who may see or change which experiment; ``audit_log`` who did
what, and when; ``registry_stamp`` the experiments registry's version, which every process
follows (``flask experiments reload``).

Revision ID: 0015_lab
Revises: 0011_run_caps
Create Date: 2026-12-05

"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0015_lab"
down_revision = "0014_links"
branch_labels = None
depends_on = None

# The triggers as this revision makes them. Written out here so that this revision builds
# the same schema whatever experiment_host.tallies says today.
_COUNTED = "'completed', 'submitted', 'approved'"
_TRACKED = ("{row}.status IN (" + _COUNTED + ", 'in_progress') AND {row}.condition IS NOT NULL"
            " AND NOT {row}.is_test")
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
_EVENTS = "UPDATE OF status, condition, is_test"
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS runs_tally_{name} AFTER {event} ON runs "
    f"WHEN {_TRACKED.format(row=row)} BEGIN {body.format(row=row)} END"
    for name, event, row, body in (("insert", "INSERT", "NEW", _ADD),
                                   ("update_old", _EVENTS, "OLD", _REMOVE),
                                   ("update_new", _EVENTS, "NEW", _ADD),
                                   ("delete", "DELETE", "OLD", _REMOVE))
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
    f"CREATE TRIGGER runs_tally AFTER INSERT OR DELETE OR {_EVENTS} ON runs "
    "FOR EACH ROW EXECUTE FUNCTION runs_tally()",
]
BACKFILL = [
    "DELETE FROM condition_tallies",
    "INSERT INTO condition_tallies (experiment_slug, condition, held, in_progress) "
    f"SELECT experiment_slug, condition, SUM({_HELD.format(row='runs')}), "
    f"SUM({_PROGRESS.format(row='runs')}) FROM runs WHERE {_TRACKED.format(row='runs')} "
    "GROUP BY experiment_slug, condition",
]
_INDEX = "ix_runs_experiment_status_seen_condition"
_INDEXED = ["experiment_slug", "status", "last_seen_at", "condition"]


def upgrade():
    dialect = op.get_bind().dialect.name
    earlier = _revision_0006()
    for statement in earlier.drop_statements(dialect):
        op.execute(statement)
    # Plain ALTER TABLE, never a batch rebuild: a rebuilt runs table would lose its triggers.
    op.add_column("runs", sa.Column("is_test", sa.Boolean(), server_default=sa.false(),
                                    nullable=False))
    op.drop_index(_INDEX, table_name="runs")
    op.create_index(_INDEX, "runs", [*_INDEXED, "is_test"])
    for statement in (POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS):
        op.execute(statement)
    for statement in BACKFILL:
        op.execute(statement)
    _upgrade_access()


def _upgrade_access():
    op.add_column("researchers", sa.Column("is_admin", sa.Boolean(), server_default=sa.false(),
                                           nullable=False))
    op.execute("UPDATE researchers SET is_admin = true")  # nobody loses access by upgrading
    op.add_column("researcher_tokens", sa.Column("read_only", sa.Boolean(),
                                                 server_default=sa.false(), nullable=False))
    op.add_column("researcher_tokens", sa.Column("experiments", sa.Text(), nullable=True))
    op.create_table(
        "experiment_access",
        sa.Column("experiment_slug", sa.String(length=64), nullable=False),
        sa.Column("researcher_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Enum("view", "edit", "owner", name="access_level",
                                   native_enum=False, length=10), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("granted_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["researcher_id"], ["researchers.id"], ondelete="CASCADE",
                                name=op.f("fk_experiment_access_researcher_id_researchers")),
        sa.PrimaryKeyConstraint("experiment_slug", "researcher_id",
                                name=op.f("pk_experiment_access")),
    )
    op.create_index(op.f("ix_experiment_access_researcher_id"), "experiment_access",
                    ["researcher_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("experiment_slug", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_experiment_slug"), "audit_log", ["experiment_slug"])
    op.create_table(
        "registry_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reloaded_at", sa.DateTime(), nullable=True),
        sa.Column("reloaded_by", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_stamp")),
    )


def _downgrade_access():
    op.drop_table("registry_stamp")
    op.drop_table("audit_log")
    op.drop_table("experiment_access")
    op.drop_column("researcher_tokens", "experiments")
    op.drop_column("researcher_tokens", "read_only")
    op.drop_column("researchers", "is_admin")


def downgrade():
    _downgrade_access()
    dialect = op.get_bind().dialect.name
    earlier = _revision_0006()
    for statement in earlier.drop_statements(dialect):
        op.execute(statement)
    op.drop_index(_INDEX, table_name="runs")
    op.create_index(_INDEX, "runs", _INDEXED)
    op.drop_column("runs", "is_test")
    for statement in earlier.statements(dialect) + earlier.BACKFILL:
        op.execute(statement)


def _revision_0006():
    """Revision 0006, which holds the triggers before test runs (and how to drop them)."""
    path = Path(__file__).with_name("0006_in_progress_tallies.py")
    spec = importlib.util.spec_from_file_location("revision_0006", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
