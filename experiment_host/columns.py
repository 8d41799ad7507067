"""The column registry: each experiment's trials.csv columns, kept up to date at save time.

trials.csv has one column per flattened record key (``researcher/export.py``). Rather than
read every record before writing the header, each save registers the keys of the records it
stored, in the same transaction, so the export reads the header with one small query.

- Order: a key's ``position`` is the order the server first stored it in (within a batch:
  record by record, key by key). The migration that built the registry used run, then seq.
- Checkpoints: a key is flagged as seen in trial records and/or in jsPsych checkpoint records,
  so trials.csv without checkpoints has no checkpoint-only columns.
- Run properties: a properties record (``export.PROPERTIES_TYPE``) registers its properties'
  keys as trial columns (the export lays them over every row of its run), and the name
  :data:`PROPERTIES_KEY`, flagged neither way, which tells the export to look for them.
- Hostile clients: an experiment gets at most ``EXPORT_MAX_COLUMNS`` columns, one run's
  records add at most ``RUN_MAX_NEW_COLUMNS`` of them (counted on the run's row,
  ``runs.columns_added``, so one participant's junk keys cannot take every column from the
  real keys of the others), and a key longer than :data:`MAX_COLUMN_NAME` characters, or
  whose column name another key already has, gets none. Such keys are not dropped:
  trials.csv puts them in one JSON column, :data:`OVERFLOW_COLUMN`, registered under that
  name (at the position where it was first needed); trials.jsonl keeps them as sent.
- Cost: a per-process cache holds the columns known to be committed, so a batch whose keys
  are all known costs no SQL. Only unknown keys write (or a first save after a restart reads).
- Concurrency: writers lock the experiment's row first (``FOR NO KEY UPDATE`` on PostgreSQL;
  SQLite has one writer anyway), then read and extend the registry, so concurrent saves never
  deadlock and positions never collide. The save path registers after inserting the records
  (which only key-share-locks the run's row) and before updating the run's row, keeping the
  app's lock order: experiment row, then run row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError

from .models import MAX_COLUMN_NAME, ExperimentColumn, ExperimentRow, Run
from .researcher.export import OVERFLOW_COLUMN, data_column, flatten, is_checkpoint
from .researcher.properties import PROPERTIES_COLUMN, run_properties

#: The registry name of the overflow column (no record key is registered under it).
OVERFLOW_KEY = OVERFLOW_COLUMN
#: Registered once the experiment has a properties record (no record key is registered
#: under it; it has neither flag, so no header shows it).
PROPERTIES_KEY = PROPERTIES_COLUMN
RESERVED = (OVERFLOW_KEY, PROPERTIES_KEY)
_TABLE = ExperimentColumn.__table__


@dataclass
class Column:
    name: str
    position: int
    in_trials: bool = False
    in_checkpoints: bool = False

    def seen_in(self, checkpoint: bool) -> bool:
        """True if flagged as seen in checkpoint (or trial) records."""
        return self.in_checkpoints if checkpoint else self.in_trials

    def mark(self, checkpoint: bool) -> None:
        """Flag as seen in checkpoint (or trial) records."""
        if checkpoint:
            self.in_checkpoints = True
        else:
            self.in_trials = True


def overflows(key: str, taken: Container[str], full: bool) -> bool:
    """True if an unregistered ``key`` gets no column: full, too long, or its name taken."""
    return full or len(key) > MAX_COLUMN_NAME or data_column(key) in taken


class ColumnSet:
    """One experiment's columns, and the rule that adds keys to them (no database).

    ``budget``: how many more columns the records being added may bring (None: any); the
    caller sets it per run.
    """

    def __init__(self, columns: Iterable[Column], max_columns: int,
                 budget: int | None = None) -> None:
        self.columns: dict[str, Column] = {}
        self.taken = set(RESERVED)  # CSV column names in use
        self.max_columns = max_columns
        self.budget = budget
        self.next_position = 0
        self.new: set[str] = set()
        self.changed: set[str] = set()
        for column in sorted(columns, key=lambda c: c.position):
            self._keep(column)

    def _keep(self, column: Column) -> None:
        self.columns[column.name] = column
        if column.name not in RESERVED:
            self.taken.add(data_column(column.name))
        self.next_position = max(self.next_position, column.position + 1)

    @property
    def full(self) -> bool:
        """True once the experiment has its maximum number of columns."""
        reserved = sum(name in self.columns for name in RESERVED)
        return len(self.columns) - reserved >= self.max_columns

    def add(self, key: str, checkpoint: bool) -> None:
        """Note ``key`` as stored in a (checkpoint) record: a new column, flag, or overflow."""
        column = self.columns.get(key)
        if column is None and (self.budget == 0 or overflows(key, self.taken, self.full)):
            key, column = OVERFLOW_KEY, self.columns.get(OVERFLOW_KEY)
        if column is None:
            column = Column(key, self.next_position)
            self._keep(column)
            self.new.add(key)
            if self.budget is not None and key != OVERFLOW_KEY:
                self.budget -= 1
        if not column.seen_in(checkpoint):
            column.mark(checkpoint)
            self.changed.add(key)

    def add_properties(self) -> None:
        """Note that the experiment has properties records (:data:`PROPERTIES_KEY`)."""
        if PROPERTIES_KEY not in self.columns:
            self._keep(Column(PROPERTIES_KEY, self.next_position))
            self.new.add(PROPERTIES_KEY)

    def add_records(self, datas: Iterable[dict[str, Any]]) -> None:
        """Add every key of the records, record by record, key by key (of a properties
        record: its properties' keys, as trial keys)."""
        for data in datas:
            properties = run_properties(data)
            if properties is not None:
                self.add_properties()
            checkpoint = properties is None and is_checkpoint(data)
            for key in flatten(data if properties is None else properties):
                self.add(key, checkpoint)

    def ordered(self) -> list[Column]:
        """The columns by position."""
        return sorted(self.columns.values(), key=lambda c: c.position)


@dataclass(frozen=True)
class Known:
    """Columns known to be committed, for the no-SQL check of the save path."""

    trials: frozenset[str]
    checkpoints: frozenset[str]
    taken: frozenset[str]
    full: bool
    properties: bool = False

    @classmethod
    def of(cls, columns: ColumnSet) -> Known:
        """A snapshot of ``columns``."""
        values = columns.columns.values()
        return cls(frozenset(c.name for c in values if c.in_trials),
                   frozenset(c.name for c in values if c.in_checkpoints),
                   frozenset(columns.taken), columns.full, PROPERTIES_KEY in columns.columns)

    def covers(self, key: str, checkpoint: bool) -> bool:
        """True if storing ``key`` in a (checkpoint) record changes nothing in the registry."""
        names = self.checkpoints if checkpoint else self.trials
        if key in names:
            return True
        if key in self.trials or key in self.checkpoints:
            return False  # registered, but not yet with this flag
        return OVERFLOW_KEY in names and overflows(key, self.taken, self.full)

    def merge(self, other: Known) -> Known:
        """Both snapshots together (the registry only grows)."""
        return Known(self.trials | other.trials, self.checkpoints | other.checkpoints,
                     self.taken | other.taken, self.full or other.full,
                     self.properties or other.properties)


class ColumnCache:
    """Per process and app: each experiment's columns known to be committed."""

    def __init__(self) -> None:
        self._known: dict[str, Known] = {}
        self._lock = threading.Lock()

    def get(self, slug: str) -> Known | None:
        """What is known of the experiment's columns, if anything."""
        return self._known.get(slug)

    def add(self, slug: str, known: Known) -> None:
        """Learn committed columns."""
        with self._lock:
            old = self._known.get(slug)
            self._known[slug] = known if old is None else old.merge(known)


# --- the database -----------------------------------------------------------------------

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


# --- the save path ------------------------------------------------------------------------

def _is_known(known: Known | None, datas: Sequence[dict[str, Any]]) -> bool:
    if known is None:
        return False
    trial_keys: dict[str, Any] = {}
    checkpoint_keys: dict[str, Any] = {}
    for data in datas:
        properties = run_properties(data)
        if properties is not None:
            if not known.properties:
                return False
            trial_keys.update(flatten(properties))
        else:
            (checkpoint_keys if is_checkpoint(data) else trial_keys).update(flatten(data))
    return (all(known.covers(key, False) for key in trial_keys)
            and all(known.covers(key, True) for key in checkpoint_keys))


def columns_known(slug: str, datas: Sequence[dict[str, Any]]) -> bool:
    """True if storing these records changes nothing in the registry (no SQL)."""
    cache: ColumnCache = current_app.extensions["experiment_columns"]
    return not datas or _is_known(cache.get(slug), datas)


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
