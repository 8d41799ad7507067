"""Condition tallies kept by triggers; in-progress index on (slug, status, last_seen_at).

Revision ID: 0003_condition_tallies
Revises: 0002_researchers_hits_limits
Create Date: 2026-11-22

"""
import sqlalchemy as sa
from alembic import op

revision = "0003_condition_tallies"
down_revision = "0002_researchers_hits_limits"
branch_labels = None
depends_on = None

# The triggers as this revision made them (held only); 0006 replaces them. Written out here
# so that this revision builds the same schema whatever experiment_host.tallies says today.
_HELD = "{row}.status IN ('completed', 'submitted', 'approved') AND {row}.condition IS NOT NULL"
_ADD = ("INSERT INTO condition_tallies (experiment_slug, condition, held) "
        "VALUES ({row}.experiment_slug, {row}.condition, 1) "
        "ON CONFLICT (experiment_slug, condition) DO UPDATE SET held = condition_tallies.held + 1;")
_REMOVE = ("UPDATE condition_tallies SET held = held - 1 "
           "WHERE experiment_slug = {row}.experiment_slug AND condition = {row}.condition;")
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER runs_tally_{name} AFTER {event} ON runs WHEN {_HELD.format(row=row)} "
    f"BEGIN {body.format(row=row)} END"
    for name, event, row, body in (
        ("insert", "INSERT", "NEW", _ADD),
        ("update_old", "UPDATE OF status, condition", "OLD", _REMOVE),
        ("update_new", "UPDATE OF status, condition", "NEW", _ADD),
        ("delete", "DELETE", "OLD", _REMOVE),
    )
]
POSTGRESQL_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION runs_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND {_HELD.format(row='OLD')} THEN
            {_REMOVE.format(row='OLD')}
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND {_HELD.format(row='NEW')} THEN
            {_ADD.format(row='NEW')}
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER runs_tally AFTER INSERT OR DELETE OR UPDATE OF status, condition ON runs "
    "FOR EACH ROW EXECUTE FUNCTION runs_tally()",
]
BACKFILL = (
    "INSERT INTO condition_tallies (experiment_slug, condition, held) "
    "SELECT experiment_slug, condition, COUNT(*) FROM runs "
    "WHERE " + _HELD.format(row="runs") + " GROUP BY experiment_slug, condition"
)


def upgrade():
    op.create_table(
        "condition_tallies",
        sa.Column("experiment_slug", sa.String(length=64), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_slug", "condition", name=op.f("pk_condition_tallies")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_experiment_status")
        batch_op.create_index("ix_runs_experiment_status_seen",
                              ["experiment_slug", "status", "last_seen_at"], unique=False)
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in (POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS) + [BACKFILL]:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS runs_tally ON runs")
        op.execute("DROP FUNCTION IF EXISTS runs_tally()")
    else:
        for name in ("insert", "update_old", "update_new", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS runs_tally_{name}")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_experiment_status_seen")
        batch_op.create_index("ix_runs_experiment_status", ["experiment_slug", "status"],
                              unique=False)
    op.drop_table("condition_tallies")
