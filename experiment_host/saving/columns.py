"""The column registry's rules, without a database: which trials.csv column a record key
gets, and what a process may take as already committed.

trials.csv has one column per flattened record key (:mod:`experiment_host.record_keys`).
- Order: a key's ``position`` is the order the server first stored it in (within a batch:
  record by record, key by key). The migration that built the registry used run, then seq.
- Checkpoints: a key is flagged as seen in trial records and/or in jsPsych checkpoint records,
  so trials.csv without checkpoints has no checkpoint-only columns.
- Run properties: a properties record registers its properties' keys as trial columns (the
  export lays them over every row of its run), and the name :data:`PROPERTIES_KEY`, flagged
  neither way, which tells the export to look for them.
- Hostile clients: an experiment gets at most ``EXPORT_MAX_COLUMNS`` columns, one run's
  records add at most ``RUN_MAX_NEW_COLUMNS`` of them (the set's ``budget``), and a key longer
  than :data:`MAX_COLUMN_NAME` characters, holding a NUL character, or whose column name
  another key already has, gets none. Such keys are not dropped: trials.csv puts them in one
  JSON column, :data:`OVERFLOW_KEY`, registered under that name (where it was first needed);
  trials.jsonl keeps them as sent.
"""

from __future__ import annotations

import threading
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..models import MAX_COLUMN_NAME
from ..record_keys import (
    OVERFLOW_COLUMN,
    PROPERTIES_COLUMN,
    data_column,
    flatten,
    is_checkpoint,
    run_properties,
)

#: The registry name of the overflow column (no record key is registered under it).
OVERFLOW_KEY = OVERFLOW_COLUMN
#: Registered once the experiment has a properties record (no record key is registered
#: under it; it has neither flag, so no header shows it).
PROPERTIES_KEY = PROPERTIES_COLUMN
RESERVED = (OVERFLOW_KEY, PROPERTIES_KEY)


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
    """True if an unregistered ``key`` gets no column: full, too long, holding a NUL
    (PostgreSQL's text cannot store it, nor would R or pandas read it in a header), or its
    name taken."""
    return full or len(key) > MAX_COLUMN_NAME or "\x00" in key or data_column(key) in taken


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


def is_known(known: Known | None, datas: Sequence[dict[str, Any]]) -> bool:
    """True if storing these records changes nothing in the registry ``known`` holds."""
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
