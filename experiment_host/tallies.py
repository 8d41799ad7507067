"""Per-condition tallies of runs that hold a place for good, kept by database triggers.

Condition assignment needs, per condition, the runs in COUNTED_STATUSES. Counting them at
every arrival costs time in proportion to the runs already there; the database keeps the
tally instead, in the same transaction as every insert, status change or delete of a run,
whichever code path makes it (the data API, `flask hits sync`, a researcher's SQL).
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

from .models import COUNTED_STATUSES

_COUNTED = ", ".join(f"'{status.value}'" for status in COUNTED_STATUSES)

_SQLITE_ADD = """
    INSERT INTO condition_tallies (experiment_slug, condition, held)
    VALUES ({row}.experiment_slug, {row}.condition, 1)
    ON CONFLICT (experiment_slug, condition) DO UPDATE SET held = held + 1;"""
_SQLITE_REMOVE = """
    UPDATE condition_tallies SET held = held - 1
    WHERE experiment_slug = {row}.experiment_slug AND condition = {row}.condition;"""
_HELD = "{row}.status IN (" + _COUNTED + ") AND {row}.condition IS NOT NULL"

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS runs_tally_insert AFTER INSERT ON runs "
    f"WHEN {_HELD.format(row='NEW')} BEGIN {_SQLITE_ADD.format(row='NEW')} END",
    f"CREATE TRIGGER IF NOT EXISTS runs_tally_update_old AFTER UPDATE OF status, condition "
    f"ON runs WHEN {_HELD.format(row='OLD')} BEGIN {_SQLITE_REMOVE.format(row='OLD')} END",
    f"CREATE TRIGGER IF NOT EXISTS runs_tally_update_new AFTER UPDATE OF status, condition "
    f"ON runs WHEN {_HELD.format(row='NEW')} BEGIN {_SQLITE_ADD.format(row='NEW')} END",
    f"CREATE TRIGGER IF NOT EXISTS runs_tally_delete AFTER DELETE ON runs "
    f"WHEN {_HELD.format(row='OLD')} BEGIN {_SQLITE_REMOVE.format(row='OLD')} END",
]

POSTGRESQL_TRIGGERS = [
    f"""
    CREATE OR REPLACE FUNCTION runs_tally() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND {_HELD.format(row='OLD')} THEN
            UPDATE condition_tallies SET held = held - 1
            WHERE experiment_slug = OLD.experiment_slug AND condition = OLD.condition;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND {_HELD.format(row='NEW')} THEN
            INSERT INTO condition_tallies (experiment_slug, condition, held)
            VALUES (NEW.experiment_slug, NEW.condition, 1)
            ON CONFLICT (experiment_slug, condition)
            DO UPDATE SET held = condition_tallies.held + 1;
        END IF;
        RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS runs_tally ON runs",
    "CREATE TRIGGER runs_tally AFTER INSERT OR DELETE OR UPDATE OF status, condition ON runs "
    "FOR EACH ROW EXECUTE FUNCTION runs_tally()",
]

#: Rebuild every tally from the runs (after creating the triggers on existing data).
BACKFILL = [
    "DELETE FROM condition_tallies",
    "INSERT INTO condition_tallies (experiment_slug, condition, held) "
    "SELECT experiment_slug, condition, COUNT(*) FROM runs "
    f"WHERE status IN ({_COUNTED}) AND condition IS NOT NULL "
    "GROUP BY experiment_slug, condition",
]


def statements(dialect: str) -> list[str]:
    """The trigger DDL for ``dialect`` (sqlite or postgresql)."""
    return POSTGRESQL_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS


def install_on_create(runs: Table) -> None:
    """Create the triggers whenever the runs table is created (create_all, tests)."""
    for dialect, ddl in (("sqlite", SQLITE_TRIGGERS), ("postgresql", POSTGRESQL_TRIGGERS)):
        for statement in ddl:
            event.listen(runs, "after_create", DDL(statement).execute_if(dialect=dialect))
