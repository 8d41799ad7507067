"""Backfill the column registry from the stored records.

Used by migration 0004 (which created the registry) and by ``flask export backfill-columns``
(records stored around the data API, e.g. by a restore). Records are read by run, then seq,
the order the export used to find its columns in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

from sqlalchemy import Connection, Row, select

from .columns import PROPERTIES_KEY, ColumnSet, extend_registry
from .models import Run, TrialRecord

BATCH_ROWS = 2000


def _stored_records(connection: Connection, slug: str | None
                    ) -> Iterator[Row[tuple[str, int, dict[str, Any]]]]:
    statement = (select(Run.experiment_slug, Run.id, TrialRecord.data)
                 .join(TrialRecord, TrialRecord.run_id == Run.id)
                 .order_by(TrialRecord.run_id, TrialRecord.seq))
    if slug is not None:
        statement = statement.where(Run.experiment_slug == slug)
    # Per statement: Connection.execution_options() would change the connection for good.
    result = connection.execute(statement.execution_options(yield_per=BATCH_ROWS))
    try:
        yield from result
    finally:
        result.close()


def backfill_columns(connection: Connection, max_columns: int,
                     slug: str | None = None, max_per_run: int | None = None
                     ) -> dict[str, int]:
    """Register the keys of every stored record (by run, then seq); return columns per slug.

    Reads the records in batches (memory stays flat) and only adds to the registry, so it is
    safe while the app saves: what it found is appended after what is registered already.
    Each run's records bring at most ``max_per_run`` new columns, as when they were saved.
    """
    found: dict[str, ColumnSet] = {}
    last_run = None
    # Closed here, not by the garbage collector, should reading stop half-way.
    with closing(_stored_records(connection, slug)) as records:
        for record_slug, run_id, data in records:
            columns = found.get(record_slug)
            if columns is None:
                columns = found[record_slug] = ColumnSet((), max_columns)
            if run_id != last_run:
                columns.budget, last_run = max_per_run, run_id
            columns.add_records((data,))
    counts: dict[str, int] = {}
    for record_slug, columns in found.items():
        merged = extend_registry(connection, record_slug, max_columns,
                                 lambda into, columns=columns: _replay(into, columns))
        counts[record_slug] = len(merged.columns)
    return counts


def _replay(into: ColumnSet, found: ColumnSet) -> None:
    for column in found.ordered():
        if column.name == PROPERTIES_KEY:
            into.add_properties()
        for checkpoint in (False, True):
            if column.seen_in(checkpoint):
                into.add(column.name, checkpoint)
