"""The column registry in the database: each experiment's trials.csv columns, kept up to
date at save time, and backfilled from stored records.

Rather than read every record before writing the header, each save registers the keys of the
records it stored, in the same transaction, so the export reads the header with one small
query (:func:`header_keys`). The rules are :mod:`.columns`'; here is where they meet SQL.

- Cost: a per-process cache holds the columns known to be committed, so a batch whose keys
  are all known costs no SQL. Only unknown keys write (or a first save after a restart reads).
- Concurrency: writers lock the experiment's row first (``FOR NO KEY UPDATE`` on PostgreSQL;
  SQLite has one writer anyway), then read and extend the registry, so concurrent saves never
  deadlock and positions never collide. The save path registers after inserting the records
  (which only key-share-locks the run's row) and before updating the run's row, keeping the
  app's lock order: experiment row, then run row.
- A run's new columns are counted on its row (``runs.columns_added``), so one participant's
  junk keys cannot take every column from the real keys of the others.
- Backfill (migration 0004, ``flask export backfill-columns``, records stored around the data
  API): reads records by run, then seq, the order the export used to find its columns in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError

from ..models import ExperimentColumn, ExperimentRow, Run, TrialRecord
from .columns import PROPERTIES_KEY, Column, ColumnCache, ColumnSet, Known, is_known

_TABLE = ExperimentColumn.__table__


def lock_columns(connection: Connection, slug: str) -> None:
    """Serialise registry writers of one experiment (no-op on SQLite: one writer anyway).

    FOR NO KEY UPDATE, unlike FOR UPDATE, lets runs referencing the experiment be inserted.
    """
    connection.execute(select(ExperimentRow.slug).where(ExperimentRow.slug == slug)
                       .with_for_update(key_share=True))


def load_columns(connection: Connection, slug: str) -> list[Column]:
    """The experiment's registered columns."""
    rows = connection.execute(
        select(_TABLE.c.name, _TABLE.c.position, _TABLE.c.in_trials, _TABLE.c.in_checkpoints)
        .where(_TABLE.c.experiment_slug == slug))
    return [Column(*row) for row in rows]


def write_columns(connection: Connection, slug: str, columns: ColumnSet) -> None:
    """Store the columns added or flagged since ``columns`` was loaded."""
    rows = [{"experiment_slug": slug, "name": c.name, "position": c.position,
             "in_trials": c.in_trials, "in_checkpoints": c.in_checkpoints}
            for c in columns.ordered() if c.name in columns.new]
    if rows:
        connection.execute(insert(_TABLE), rows)
    flags = [{"slug_": slug, "name_": name, "trials_": columns.columns[name].in_trials,
              "checkpoints_": columns.columns[name].in_checkpoints}
             for name in sorted(columns.changed - columns.new)]
    if flags:
        connection.execute(
            update(_TABLE)
            .where(_TABLE.c.experiment_slug == bindparam("slug_"),
                   _TABLE.c.name == bindparam("name_"))
            .values(in_trials=bindparam("trials_"), in_checkpoints=bindparam("checkpoints_")),
            flags)
    columns.new.clear()
    columns.changed.clear()


def extend_registry(connection: Connection, slug: str, max_columns: int,
                    add: Callable[[ColumnSet], None], run_id: int | None = None) -> ColumnSet:
    """Lock, load, ``add(columns)``, write: one update of the experiment's registry. The
    columns added count against run ``run_id``'s RUN_MAX_NEW_COLUMNS (None: no run's)."""
    lock_columns(connection, slug)
    budget = None if run_id is None else _run_budget(connection, run_id)
    columns = ColumnSet(load_columns(connection, slug), max_columns, budget)
    add(columns)
    write_columns(connection, slug, columns)
    if run_id is not None and budget is not None and columns.budget is not None:
        _count_added(connection, run_id, budget - columns.budget)
    return columns


def _run_budget(connection: Connection, run_id: int) -> int:
    """The columns the run may still add (read under the registry's lock)."""
    added = connection.scalar(select(Run.columns_added).where(Run.id == run_id)) or 0
    return max(current_app.config["RUN_MAX_NEW_COLUMNS"] - added, 0)


def _count_added(connection: Connection, run_id: int, added: int) -> None:
    if added:
        connection.execute(update(Run).where(Run.id == run_id)
                           .values(columns_added=Run.columns_added + added))


def header_keys(connection: Connection, slug: str, checkpoints: bool) -> list[str]:
    """The record keys with a trials.csv column (and the overflow's place), in order."""
    rows = connection.execute(
        select(_TABLE.c.name, _TABLE.c.in_trials, _TABLE.c.in_checkpoints)
        .where(_TABLE.c.experiment_slug == slug).order_by(_TABLE.c.position))
    return [name for name, in_trials, in_checkpoints in rows
            if in_trials or (checkpoints and in_checkpoints)]


def has_properties(connection: Connection, slug: str) -> bool:
    """True if the experiment has run properties records (:data:`PROPERTIES_KEY`)."""
    return connection.scalar(select(_TABLE.c.position).where(
        _TABLE.c.experiment_slug == slug, _TABLE.c.name == PROPERTIES_KEY)) is not None


def columns_known(slug: str, datas: Sequence[dict[str, Any]]) -> bool:
    """True if storing these records changes nothing in the registry (no SQL)."""
    cache: ColumnCache = current_app.extensions["experiment_columns"]
    return not datas or is_known(cache.get(slug), datas)


def register_columns(connection: Connection, slug: str, datas: Sequence[dict[str, Any]],
                     run_id: int | None = None) -> Known | None:
    """Register the keys of records being stored as trials.csv columns, in ``connection``'s
    transaction; return what to :func:`remember` once it commits (None if nothing changed).

    The records are run ``run_id``'s: the columns they add count against its
    RUN_MAX_NEW_COLUMNS (None: no run's, e.g. records restored by a researcher).

    Call before the statement that updates the run's row (lock order: experiment, then run).
    Never fails the save: an error is logged and the records stay (their unregistered keys
    make trials.csv fail loudly until ``flask export backfill-columns``), except when the
    database connection is lost, which fails the whole request as usual.
    """
    if columns_known(slug, datas):
        return None
    limit = current_app.config["EXPORT_MAX_COLUMNS"]
    # PostgreSQL aborts the whole transaction on a failed statement, so the registry gets a
    # savepoint there; SQLite undoes just the failed statement (and pysqlite's SAVEPOINT
    # would end the enclosing transaction early).
    undo_point = connection.begin_nested() if connection.dialect.name == "postgresql" else None
    try:
        columns = extend_registry(connection, slug, limit,
                                  lambda columns: columns.add_records(datas), run_id)
    except Exception as error:  # the records matter more than their columns
        if undo_point is not None:
            undo_point.rollback()
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            raise
        current_app.logger.exception("could not register the columns of %r", slug)
        return None
    if undo_point is not None:
        undo_point.commit()
    return Known.of(columns)


def remember(slug: str, known: Known | None) -> None:
    """Learn columns that :func:`register_columns` wrote, once their transaction committed."""
    if known is not None:
        current_app.extensions["experiment_columns"].add(slug, known)


def init_app(app: Flask) -> None:
    """Give the app its cache of committed columns."""
    app.extensions["experiment_columns"] = ColumnCache()


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
