"""Pure row generators for the exports: no database, no HTTP, so each rule is testable alone.

- runs.csv: one row per run (:data:`RUN_COLUMNS`): ``outcome`` is how the task ended the
  run, ``completion_code`` the code the participant took back to their platform (on
  Prolific, the code of that outcome), ``bonus_recorded_cents`` what the task recorded
  (``POST /api/bonus``) and ``bonus_paid_cents`` what the platform's ledger says was paid.
- trials.csv: one row per trial record, the run columns (:data:`TRIAL_RUN_COLUMNS`) first,
  then the record's fields: nested objects flattened to dotted names, lists as JSON text,
  one column per key of the experiment's column registry (:mod:`experiment_host.saving`),
  and :data:`OVERFLOW_COLUMN` holding, as one JSON object, the keys that have no column.
  A run's properties records (:data:`PROPERTIES_TYPE`: what jsPsych's addProperties added)
  are no rows: their properties are laid over every row of the run, as jsPsych lays them
  over every trial (:class:`.properties.RunProperties`); a property wins over any key of the
  record that would fill the same column.
- trials.jsonl: one JSON object per record, lossless (properties records as stored).

Formula injection (the README documents it): a text cell, header cells included, that starts
with ``= + - @``, a tab, a carriage return or ``'`` gets one ``'`` put in front. Undo it by
removing the first character of every text cell that starts with ``'``
(:func:`unescape_formula`).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any, NamedTuple

from ..record_keys import (
    CHECKPOINT_TYPE,
    OVERFLOW_COLUMN,
    PROPERTIES_TYPE,
    TRIAL_RUN_COLUMNS,
    data_column,
    flatten,
    is_checkpoint,
    run_properties,
)
from .properties import RunProperties

RUN_COLUMNS = (
    "run_id", "experiment", "platform", "worker_id", "session_key", "study_key", "attempt",
    "condition", "status", "created_at", "consented_at", "last_seen_at", "completed_at",
    "submitted_at", "reviewed_at", "duration_seconds", "outcome", "completion_code",
    "bonus_recorded_cents", "bonus_reason", "bonus_paid_cents", "n_trials", "batch",
    "link_type", "link_comment",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
CHUNK_CHARS = 64 * 1024

#: json.dumps with options builds an encoder per call; the exports encode once per record.
#: What they encode was decoded from JSON: it holds no cycles to check for.
to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                            check_circular=False).encode


class RunInfo(NamedTuple):
    """The run columns read for runs.csv, in query order."""

    id: int
    experiment_slug: str
    platform: str
    worker_id: str
    session_key: str
    study_key: str | None
    attempt: int
    condition: str | None
    status: str
    created_at: datetime
    consented_at: datetime | None
    last_seen_at: datetime
    completed_at: datetime | None
    submitted_at: datetime | None
    reviewed_at: datetime | None
    completion_code: str | None
    bonus_cents: int | None
    bonus_reason: str | None
    record_count: int
    outcome: str | None
    #: From the platforms' ledgers of paid bonuses (``paid_bonuses.py``), not the runs table.
    bonus_paid_cents: int
    batch: str | None
    link_type: str | None
    link_comment: str | None


class RecordInfo(NamedTuple):
    """One trial record with its run's columns, in query order."""

    run_id: int
    experiment_slug: str
    platform: str
    worker_id: str
    session_key: str
    study_key: str | None
    condition: str | None
    status: str
    seq: int
    received_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class ExportOptions:
    """How to write cells: pseudonyms, formula escaping, checkpoint records (CSV only)."""

    pseudonym_key: bytes
    pseudonymize: bool = True
    escape_formulas: bool = True
    checkpoints: bool = False

    def worker(self, platform: str, worker_id: str) -> str:
        """The worker id as exported: a keyed-hash pseudonym, or the raw id."""
        return pseudonym(self.pseudonym_key, platform, worker_id) if self.pseudonymize \
            else worker_id


@lru_cache(maxsize=65_536)  # trials.csv asks once per record; a worker has many records
def pseudonym(key: bytes, platform: str, worker_id: str) -> str:
    """A stable pseudonym: HMAC-SHA256 of ``platform:worker_id`` under the project's key."""
    digest = hmac.new(key, f"{platform}:{worker_id}".encode(), hashlib.sha256).hexdigest()
    return "anon_" + digest[:20]


def escape_formula(text: str) -> str:
    """Put ``'`` before text a spreadsheet could run as a formula (and before a leading ')."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unescape_formula(text: str) -> str:
    """Undo :func:`escape_formula`."""
    return text[1:] if text.startswith("'") else text


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, or None; a naive time is UTC (as the database keeps it)."""
    if value is None:
        return None
    return value.isoformat() + "Z" if value.tzinfo is None \
        else value.isoformat().replace("+00:00", "Z")


def cell(value: Any, escape: bool) -> Any:
    """One CSV cell: "" for null, true/false, numbers as they are, JSON text for lists."""
    kind = type(value)  # exact types: JSON gives only these, and it is the hot path
    if kind is str:
        return "'" + value if escape and value.startswith(FORMULA_STARTS) else value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return value
    if isinstance(value, str):  # StrEnum members (status, platform)
        return cell(str(value), escape)
    text = to_json(value)
    return escape_formula(text) if escape else text


def wanted(records: Iterable[RecordInfo], options: ExportOptions) -> Iterator[RecordInfo]:
    """The records that are rows of trials.csv (checkpoints only if asked for; no
    properties records)."""
    special = (CHECKPOINT_TYPE, PROPERTIES_TYPE)
    for record in records:
        if record.data.get("trial_type") not in special or (  # one lookup for most records
                run_properties(record.data) is None
                and (options.checkpoints or not is_checkpoint(record.data))):
            yield record


class MissingColumnError(LookupError):
    """A record has a key that trials.csv has no column for, and there is no overflow column."""


def trial_columns(keys: Iterable[str]) -> list[str]:
    """Every column of trials.csv: run columns, then a column per record key, in order.

    ``keys`` may hold :data:`OVERFLOW_COLUMN`: the place of the overflow column.
    """
    return [*TRIAL_RUN_COLUMNS, *(data_column(key) for key in keys)]


def header_row(columns: Iterable[str], options: ExportOptions) -> list[str]:
    """A CSV header, escaped like a row of cells: trials.csv's column names are record keys
    that participants chose, and a spreadsheet reads a header cell like any other."""
    return [cell(name, options.escape_formulas) for name in columns]


def _duration(run: RunInfo) -> float | None:
    if run.completed_at is None:
        return None
    return round((run.completed_at - run.created_at).total_seconds(), 3)


def run_rows(runs: Iterable[RunInfo], options: ExportOptions) -> Iterator[list[Any]]:
    """runs.csv rows, matching :data:`RUN_COLUMNS`."""
    for run in runs:
        values = (
            run.id, run.experiment_slug, run.platform, options.worker(run.platform, run.worker_id),
            run.session_key, run.study_key, run.attempt, run.condition, run.status,
            timestamp(run.created_at), timestamp(run.consented_at), timestamp(run.last_seen_at),
            timestamp(run.completed_at), timestamp(run.submitted_at), timestamp(run.reviewed_at),
            _duration(run), run.outcome, run.completion_code, run.bonus_cents,
            run.bonus_reason, run.bonus_paid_cents, run.record_count, run.batch, run.link_type,
            run.link_comment,
        )
        yield [cell(value, options.escape_formulas) for value in values]


def run_head(record: RecordInfo, options: ExportOptions) -> tuple[Any, ...]:
    """The values a record shares with every record of its run: the run columns but the
    last two (seq and received_at)."""
    return (record.run_id, record.experiment_slug, record.platform,
            options.worker(record.platform, record.worker_id), record.session_key,
            record.study_key, record.condition, record.status)


def _run_cells(records: Iterable[RecordInfo], options: ExportOptions
               ) -> Iterator[tuple[list[Any], RecordInfo]]:
    """Each record with its run's head cells, made once per run: records come by run."""
    run_id, cells = None, []
    for record in records:
        if record.run_id != run_id:
            run_id = record.run_id
            cells = [cell(value, options.escape_formulas) for value in run_head(record, options)]
        yield cells, record


def trial_rows(records: Iterable[RecordInfo], keys: Sequence[str], options: ExportOptions,
               properties: RunProperties | None = None) -> Iterator[list[Any]]:
    """trials.csv rows for ``trial_columns(keys)``; missing keys are empty.

    A record key not in ``keys`` goes into the overflow column's JSON object, which must be
    in ``keys`` then (a record key named like it goes there too). ``properties``: each
    run's, laid over its rows after the record's own keys (whose top-level keys they
    replace), so a property wins.
    """
    start = len(TRIAL_RUN_COLUMNS)
    positions = {key: start + offset for offset, key in enumerate(keys)}
    overflow_at = positions.pop(OVERFLOW_COLUMN, None)
    escape = options.escape_formulas
    blank = [""] * len(keys)
    run_id, laid = None, {}
    for head, record in _run_cells(records, options):
        if properties is not None and record.run_id != run_id:
            run_id, laid = record.run_id, properties.of(record.run_id)
        row = [*head, record.seq, timestamp(record.received_at), *blank]
        extra: dict[str, Any] = {}
        own = {key: value for key, value in record.data.items() if key not in laid} \
            if laid else record.data
        for key, value in chain(_flat_items(own), _flat_items(laid)):
            position = positions.get(key)
            if position is None:
                extra[key] = value
                continue
            kind = type(value)  # most cells: what cell() does, inline
            if kind is str:
                row[position] = "'" + value if escape and value.startswith(FORMULA_STARTS) \
                    else value
            elif kind is int or kind is float:
                row[position] = value
            elif kind is bool:
                row[position] = "true" if value else "false"
            elif value is not None:
                row[position] = cell(value, escape)
        if extra:
            if overflow_at is None:
                raise missing_column(record, next(iter(extra)))
            row[overflow_at] = cell(extra, escape)
        yield row


def _flat_items(data: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """``flatten(data).items()``, without building the flat dict for a record that has no
    nested object (most records)."""
    return flatten(data).items() if dict in set(map(type, data.values())) else data.items()


def missing_column(record: RecordInfo, key: str) -> MissingColumnError:
    return MissingColumnError(
        f"Record seq {record.seq} of run {record.run_id} has the key {key!r}, which has no "
        f"trials.csv column; register the stored records' keys with "
        f"`flask export backfill-columns {record.experiment_slug}`.")


def trial_lines(records: Iterable[RecordInfo], options: ExportOptions) -> Iterator[str]:
    """trials.jsonl lines: the run columns plus the record's ``data`` untouched, as one JSON
    object; the run columns' text is made once per run."""
    run_id, opening = None, ""
    for record in records:
        if record.run_id != run_id:
            run_id = record.run_id
            head = dict(zip(TRIAL_RUN_COLUMNS, run_head(record, options), strict=False))
            opening = to_json(head)[:-1]
        yield (f'{opening},"seq":{record.seq},"received_at":"{timestamp(record.received_at)}",'
               f'"data":{to_json(record.data)}}}\n')


def csv_chunks(header: Iterable[str], rows: Iterable[list[Any]],
               chunk_chars: int = CHUNK_CHARS) -> Iterator[tuple[int, str]]:
    """CSV text in chunks of about ``chunk_chars``, each with the number of rows it holds."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(list(header))
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
        if buffer.tell() >= chunk_chars:
            yield count, buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            count = 0
    yield count, buffer.getvalue()


def line_chunks(lines: Iterable[str], chunk_chars: int = CHUNK_CHARS,
                opening: str = "") -> Iterator[tuple[int, str]]:
    """Text lines in chunks, each with the number of lines it holds; ``opening`` (a CSV
    header) starts the first chunk, not counted as a line."""
    parts: list[str] = [opening]
    size, count = len(opening), 0
    for line in lines:
        parts.append(line)
        size += len(line)
        count += 1
        if size >= chunk_chars:
            yield count, "".join(parts)
            parts, size, count = [], 0, 0
    yield count, "".join(parts)
