"""Per-condition tallies of runs kept by database triggers, so condition assignment reads
two counters instead of counting runs at every arrival, whichever code path changes a run
(the data API, `flask hits sync`, a researcher's SQL)."""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

from .statuses import RunStatus

# Two tallies per (experiment, condition): ``held`` (``RunStatus.COUNTED``, for good) and
# ``in_progress`` (those seen lately count too). They change in the same transaction as every
# insert, status change or delete of a run. A save changes neither the status nor the
# condition, so it fires no trigger.
#
# Test runs (``runs.is_test``: pilots, the sandbox, the simulators) are in neither tally, so
# they never take a place from a participant, even while in progress.
#
# Migration 0015 builds these triggers; 0006 and 0015 each keep their own copy of the DDL of
# their day, as 0003 keeps the held-only one. A change here needs a new migration.
_COUNTED = ", ".join(f"'{status.value}'" for status in RunStatus.COUNTED)
_IN_PROGRESS = f"'{RunStatus.IN_PROGRESS.value}'"
_TRACKED = ("{row}.status IN (" + f"{_COUNTED}, {_IN_PROGRESS}" + ") "
            "AND {row}.condition IS NOT NULL AND NOT {row}.is_test")
# How much one run adds to each tally: 1 or 0 (valid SQL on SQLite and PostgreSQL alike).
_HELD = "CAST({row}.status IN (" + _COUNTED + ") AS INTEGER)"
_PROGRESS = "CAST({row}.status = " + _IN_PROGRESS + " AS INTEGER)"

_ADD = (
    "INSERT INTO condition_tallies (experiment_slug, condition, held, in_progress) "
    "VALUES ({row}.experiment_slug, {row}.condition, " + _HELD + ", " + _PROGRESS + ") "
    "ON CONFLICT (experiment_slug, condition) DO UPDATE "
    "SET held = condition_tallies.held + excluded.held, "
    "in_progress = condition_tallies.in_progress + excluded.in_progress;"
)
_REMOVE = (
    "UPDATE condition_tallies "
    "SET held = held - " + _HELD + ", in_progress = in_progress - " + _PROGRESS + " "
    "WHERE experiment_slug = {row}.experiment_slug AND condition = {row}.condition;"
)


# SQLite's triggers, runs_tally_<name>: (name, event, row, what the row does to the tallies).
_SQLITE = (
    ("insert", "INSERT", "NEW", _ADD),
    ("update_old", "UPDATE OF status, condition, is_test", "OLD", _REMOVE),
    ("update_new", "UPDATE OF status, condition, is_test", "NEW", _ADD),
    ("delete", "DELETE", "OLD", _REMOVE),
)
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS runs_tally_{name} AFTER {event_clause} ON runs "
    f"WHEN {_TRACKED.format(row=row)} BEGIN {body.format(row=row)} END"
    for name, event_clause, row, body in _SQLITE
]

POSTGRESQL_TRIGGERS = [
    f"""
    CREATE OR REPLACE FUNCTION runs_tally() RETURNS trigger LANGUAGE plpgsql AS $$
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
    "CREATE TRIGGER runs_tally AFTER INSERT OR DELETE OR UPDATE OF status, condition, is_test "
    "ON runs "
    "FOR EACH ROW EXECUTE FUNCTION runs_tally()",
]


def drop_statements(dialect: str) -> list[str]:
    """Remove the triggers (before replacing them in a migration)."""
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS runs_tally ON runs", "DROP FUNCTION IF EXISTS runs_tally()"]
    return [f"DROP TRIGGER IF EXISTS runs_tally_{name}" for name, *_ in _SQLITE]


#: Rebuild every tally from the runs (after creating the triggers on existing data).
BACKFILL = [
    "DELETE FROM condition_tallies",
    "INSERT INTO condition_tallies (experiment_slug, condition, held, in_progress) "
    f"SELECT experiment_slug, condition, SUM({_HELD.format(row='runs')}), "
    f"SUM({_PROGRESS.format(row='runs')}) FROM runs "
    f"WHERE {_TRACKED.format(row='runs')} "
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
