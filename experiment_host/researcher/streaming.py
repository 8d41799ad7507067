"""Stream the exports out of the database with flat memory, from one snapshot, so a large
experiment downloads without loading it and every exported record has its column."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Select,
    String,
    func,
    select,
    type_coerce,
)

from ..database import json_text
from ..links import LINK_COLUMNS, with_link_columns
from ..models import Run, TrialRecord
from ..paid_bonuses import paid_per_run
from ..record_keys import PROPERTIES_TYPE
from ..saving import has_properties, header_keys
from .csv_lines import csv_header, trial_csv_lines
from .export import (
    RUN_COLUMNS,
    ExportOptions,
    RecordInfo,
    RunInfo,
    csv_chunks,
    header_row,
    line_chunks,
    run_rows,
    trial_columns,
    trial_lines,
    wanted,
)
from .filters import RunFilter, since_records, since_runs, where_runs
from .properties import RunProperties

BATCH_ROWS = 2000
KINDS = ("runs.csv", "trials.csv", "trials.jsonl")

Chunks = Iterator[tuple[int, str]]


def pseudonym_key(config: Any) -> bytes:
    """``PSEUDONYM_KEY`` if set, else a key derived from ``SECRET_KEY``."""
    if config.get("PSEUDONYM_KEY"):
        return str(config["PSEUDONYM_KEY"]).encode()
    secret = str(config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"experiment_host worker pseudonyms", hashlib.sha256).digest()


def runs_statement(slug: str, run_filter: RunFilter) -> Select[Any]:
    """The runs of runs.csv, oldest first, with the bonus paid to each and its study link."""
    columns = [getattr(Run, name) for name in RunInfo._fields[1:]
               if name != "bonus_paid_cents" and name not in LINK_COLUMNS]
    paid = paid_per_run()
    statement = with_link_columns(
        select(Run.id, *columns, func.coalesce(paid.c.paid_cents, 0)).outerjoin(
            paid, (paid.c.platform == Run.platform) & (paid.c.session_key == Run.session_key)))
    return since_runs(where_runs(statement, run_filter, slug), run_filter.since).order_by(Run.id)


def records_statement(slug: str, run_filter: RunFilter, data: bool = True) -> Select[Any]:
    """The records of trials.csv / trials.jsonl, by run then seq (``data=False``: the count).

    The run's enums are read as text and ``received_at`` as naive UTC: the model's types
    would convert these cells of every row.
    """
    columns = [Run.id, Run.experiment_slug, type_coerce(Run.platform, String), Run.worker_id,
               Run.session_key, Run.study_key, Run.condition, type_coerce(Run.status, String),
               TrialRecord.seq, type_coerce(TrialRecord.received_at, DateTime)]
    statement = select(*columns, TrialRecord.data) if data else select(func.count())
    statement = statement.select_from(Run).join(TrialRecord, TrialRecord.run_id == Run.id)
    statement = since_records(where_runs(statement, run_filter, slug), run_filter.since)
    return statement.order_by(Run.id, TrialRecord.seq) if data else statement


def properties_statement(slug: str, run_filter: RunFilter) -> Select[Any]:
    """The run properties records of the runs of trials.csv, by run then seq. Not limited
    by ``since``: a run's properties apply to all its rows, whenever they were received."""
    kind = json_text(TrialRecord.data, "trial_type")
    statement = (select(Run.id, TrialRecord.data).select_from(Run)
                 .join(TrialRecord, TrialRecord.run_id == Run.id)
                 .where(kind == PROPERTIES_TYPE))
    return where_runs(statement, run_filter, slug).order_by(Run.id, TrialRecord.seq)


def count_rows(connection: Connection, kind: str, slug: str, run_filter: RunFilter) -> int:
    """How many rows (before the checkpoint filter) an export will have."""
    if kind == "runs.csv":
        inner = runs_statement(slug, run_filter).order_by(None).subquery()
        return connection.scalar(select(func.count()).select_from(inner)) or 0
    return connection.scalar(records_statement(slug, run_filter, data=False)) or 0


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one snapshot of the database."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection
        else:
            connection.exec_driver_sql("BEGIN")  # pysqlite begins only before writes
            try:
                yield connection
            finally:
                connection.rollback()


def _stream(connection: Connection, statement: Select[Any]) -> Iterator[Any]:
    """The statement's rows, in batches. Close it (``closing``) where it is created: a
    writer that stops half-way (an error, a download cut off) must close the cursor before
    the snapshot gives its connection back, not leave it to the garbage collector."""
    result = connection.execution_options(yield_per=BATCH_ROWS).execute(statement)
    try:
        yield from result
    finally:
        result.close()


def _driver_statement(connection: Connection, statement: Select[Any]) -> tuple[str, Any]:
    """The statement's SQL and parameters as the driver takes them, made by SQLAlchemy as
    for an execute: bind processors applied (the ``since`` time to naive UTC, enums to
    text), IN lists expanded. No value is put into the SQL text."""
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    if compiled.escaped_bind_names:  # not with our statements' parameter names
        raise ValueError("parameter names that need escaping are not handled here")
    state = compiled.construct_expanded_state()
    processors = {name: process for name, bind in compiled.binds.items()
                  if (process := bind.type.dialect_impl(dialect).bind_processor(dialect))}
    processors.update(state.processors)
    parameters = {name: processors[name](value) if name in processors else value
                  for name, value in state.parameters.items()}
    return state.statement, parameters  # named: psycopg's dialect uses %(name)s


def _streamed(connection: Connection, statement: Select[Any]) -> Iterator[Any]:
    """The statement's rows as psycopg streams them from PostgreSQL (libpq's chunked rows,
    :data:`BATCH_ROWS` at a time): the server sends rows while we write them, where a
    server-side cursor leaves each side waiting for the other batch after batch. Same
    snapshot as the other reads; close it as :func:`_stream`.
    """
    dialect = connection.dialect
    if any(column.type.dialect_impl(dialect).result_processor(dialect, None)
           for column in statement.selected_columns):  # psycopg's values would differ
        raise TypeError("a column of this statement needs SQLAlchemy's result processing")
    sql, parameters = _driver_statement(connection, statement)
    cursor = connection.connection.cursor()
    try:
        yield from cursor.stream(sql, parameters, size=BATCH_ROWS)
    finally:
        cursor.close()


def _records(connection: Connection, statement: Select[Any]) -> Iterator[Any]:
    """The records' rows: streamed on PostgreSQL, through a cursor on SQLite."""
    if connection.dialect.name == "postgresql":
        return _streamed(connection, statement)
    return _stream(connection, statement)


@contextmanager
def _reader_beside(connection: Connection) -> Iterator[Connection]:
    """A connection for a second read at the same time as one on ``connection``, in its
    snapshot. SQLite's connection holds several cursors at once; a PostgreSQL stream holds
    its connection to its last row, so there a second connection imports the snapshot."""
    if connection.dialect.name != "postgresql":
        yield connection
        return
    from psycopg import sql as pg_sql  # only PostgreSQL's exports need the driver

    exported = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    with connection.engine.connect() as beside:
        beside = beside.execution_options(isolation_level="REPEATABLE READ")
        with beside.begin():
            driver = beside.connection.driver_connection
            driver.execute(pg_sql.SQL("SET TRANSACTION SNAPSHOT {}").format(
                pg_sql.Literal(exported)))
            yield beside


def _runs_csv(connection: Connection, slug: str, run_filter: RunFilter,
              options: ExportOptions) -> Chunks:
    with closing(_stream(connection, runs_statement(slug, run_filter))) as rows:
        runs = map(RunInfo._make, rows)
        yield from csv_chunks(header_row(RUN_COLUMNS, options), run_rows(runs, options))


def _trials_csv(connection: Connection, slug: str, run_filter: RunFilter,
                options: ExportOptions) -> Chunks:
    # The whole experiment's columns, whatever the filter: files of incremental pulls
    # (since=...) share one header and can be concatenated.
    keys = header_keys(connection, slug, options.checkpoints)
    spread = has_properties(connection, slug)
    with ExitStack() as streams:
        beside = streams.enter_context(_reader_beside(connection)) if spread else None
        rows = streams.enter_context(closing(
            _records(connection, records_statement(slug, run_filter))))
        properties = None
        if beside is not None:
            properties = RunProperties(streams.enter_context(closing(
                _records(beside, properties_statement(slug, run_filter)))))
        records = wanted(map(RecordInfo._make, rows), options)
        yield from line_chunks(trial_csv_lines(records, keys, options, properties),
                               opening=csv_header(trial_columns(keys), options))


def _trials_jsonl(connection: Connection, slug: str, run_filter: RunFilter,
                  options: ExportOptions) -> Chunks:
    with closing(_records(connection, records_statement(slug, run_filter))) as rows:
        yield from line_chunks(trial_lines(map(RecordInfo._make, rows), options))


_WRITERS = {"runs.csv": _runs_csv, "trials.csv": _trials_csv, "trials.jsonl": _trials_jsonl}


# Each export reads on its own connection, in batches (on PostgreSQL psycopg's stream for the
# records, a server-side cursor for runs.csv), and yields ``(rows, text)`` chunks. trials.csv
# takes its header from the experiment's column registry (one small query), so its rows
# stream at once. The registry and the records are read in one snapshot (REPEATABLE READ on
# PostgreSQL, one read transaction on SQLite): records are registered in the transaction that
# stores them, so every key of every exported record has its column, and a record saved
# meanwhile is not exported. An experiment with run properties records (the registry says
# so) reads them in a second stream beside the records, also by run, in the same snapshot
# (on PostgreSQL from a second connection): one run's properties are held at a time.
def export_chunks(engine: Engine, kind: str, slug: str, run_filter: RunFilter,
                  options: ExportOptions) -> Chunks:
    """``(rows, text)`` chunks of one export, read from one snapshot."""
    writer = _WRITERS[kind]
    with snapshot(engine) as connection:
        yield from writer(connection, slug, run_filter, options)


def export_text(engine: Engine, kind: str, slug: str, run_filter: RunFilter,
                options: ExportOptions) -> Iterator[str]:
    """The export as text chunks; an empty first chunk lets the download start at once."""
    yield ""
    for _rows, text in export_chunks(engine, kind, slug, run_filter, options):
        if text:
            yield text
