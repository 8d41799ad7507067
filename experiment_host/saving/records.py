"""Saving trial records: the hot path of every task page (completing is in completion.py).

A save costs the same whatever the number of records already saved: an ``INSERT ... ON
CONFLICT DO NOTHING`` of the batch, guarded by the run being in progress and the token's page
being its latest, and one update of the run's row (seen now, request budget, counters) that locks
it: two statements on SQLite, one on PostgreSQL (the insert as a CTE of the update), then
the commit. It does not load the run first: only when a guard refuses is the
run read, to say why. The guard (:mod:`run_guard`) and the error type are shared with
:mod:`completion`. The common save goes first to :mod:`plain_saves`, with the saves that
arrive with it; only what needs a decision comes back here.

These functions run their own short transaction on a Core connection (no ORM session: it
would only add work on every request) and commit it themselves; an error rolls it back.
SQLite's two save statements run on the transaction's driver cursor
(:mod:`experiment_host.driver_statements`): there SQLAlchemy's execution cost more than the
statements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import (
    Connection,
    Dialect,
    Integer,
    Select,
    TextClause,
    Update,
    bindparam,
    func,
    select,
    text,
)

from .. import rate_limits
from ..database import write_transaction
from ..driver_statements import DriverStatement
from ..errors import ClientError
from ..extensions import db
from ..models import Run, RunStatus, TrialRecord, UTCDateTime
from ..runs import run_for_claim
from ..tokens import RunClaim
from .column_registry import columns_known, register_columns, remember
from .plain_saves import PlainSave, plain_saves_on, save_if_plain
from .run_caps import cap_parameters, data_bytes, record_bytes
from .run_guard import (
    count_saved,
    count_saved_on_driver,
    guard_parameters,
    in_progress_update,
    request_counted,
)
from .save_sql import insert_batch

MAX_MISSING_REPORTED = 100


class RecordError(ClientError):
    """A save or complete that cannot be done (409 unless it says otherwise)."""

    status = 409


@dataclass(frozen=True)
class RecordIn:
    seq: int
    data: dict[str, Any]


@dataclass(frozen=True)
class SaveResult:
    stored: int
    duplicates: int
    saved: int
    next_seq: int


def _within_budget(requests_this_minute: int) -> None:
    if requests_this_minute > current_app.config["RUN_REQUESTS_PER_MINUTE"]:
        raise RecordError("rate_limited", "Too many requests for this run; slow down and retry.",
                          status=429)


def finished_error(status: RunStatus) -> RecordError:
    return RecordError(
        "run_finished",
        f"This run is already {status.value.replace('_', ' ')}; no more data is accepted.",
        status=409,
        status_now=status.value,
    )


@cache
def _touch_statement() -> Update:
    return in_progress_update().returning(Run.rate_count, Run.record_count)


def touch(claim: RunClaim) -> tuple[RunStatus, int]:
    """Mark the claimed run as seen now and count the request; its status and saved count.

    The per-run request budget (RUN_REQUESTS_PER_MINUTE) is counted on the run's own row,
    so it holds across every gunicorn worker and host at no extra query.
    """
    with write_transaction() as connection:
        counters = connection.execute(_touch_statement(), guard_parameters(claim)).one_or_none()
        if counters is not None:
            _within_budget(counters[0])
    if counters is None:
        run = run_for_claim(claim)
        return run.status, run.record_count
    return RunStatus.IN_PROGRESS, counters[1]


def count_request(run_id: int) -> None:
    """Count a request that reads or changes a run outside the save path (reading records,
    a bonus) toward its per-minute budget, in the session's transaction; 429 when over."""
    count = db.session.execute(request_counted(),
                               {"run_id": run_id, "window": rate_limits.current_window(60)},
                               execution_options={"synchronize_session": False}).scalar()
    _within_budget(count or 0)


@cache
def _insert_statement(dialect: str) -> TextClause:
    return text(insert_batch(dialect)).bindparams(bindparam("now", type_=UTCDateTime()))


@cache
def _save_statement_postgresql() -> Select[Any]:
    """PostgreSQL inserts and updates the run in one statement (one round trip fewer per
    save): the update counts what the insert returned, and answers nothing if the guard
    refuses (the caller then rolls back whatever the insert did)."""
    inserted = _insert_statement("postgresql").columns(seq=Integer, size=Integer).cte("inserted")
    count = select(func.count()).select_from(inserted).scalar_subquery()
    size = select(func.coalesce(func.sum(inserted.c.size), 0)).scalar_subquery()
    counted = count_saved(count, size).cte("counted")
    return select(counted.c.rate_count, counted.c.record_count, counted.c.next_seq,
                  select(func.array_agg(inserted.c.seq)).scalar_subquery())


def batch_parameters(dialect: str, records: Sequence[RecordIn]) -> dict[str, Any]:
    """The batch as the insert unpacks it, and its data bytes; lone surrogates are refused.

    PostgreSQL gets the seqs as an array and the data as one JSON array (its JSON operators
    cannot de-escape "\u0000", so the seqs stay out of the JSON); SQLite gets one JSON array
    of {seq, data}. One serialisation serves the Unicode check, the size (:mod:`run_caps`)
    and the statement; only a batch that fails is searched record by record for the culprit.
    """
    if dialect == "postgresql":
        parameters = {"seqs": [r.seq for r in records],
                      "records": json.dumps([r.data for r in records], ensure_ascii=False)}
    else:
        parameters = {"records": json.dumps([{"seq": r.seq, "data": r.data} for r in records],
                                            ensure_ascii=False)}
    size = _encoded_size(parameters["records"], records)
    parameters["batch_bytes"] = data_bytes(size, records, with_seqs=dialect != "postgresql")
    return parameters


def _encoded_size(payload: str, records: Sequence[RecordIn]) -> int:
    try:
        return len(payload.encode("utf-8"))
    except UnicodeEncodeError:
        index = next(i for i, r in enumerate(records) if not _encodable(r.data))
        raise RecordError("invalid_records",
                          f"records[{index}].data holds text that is not valid Unicode.",
                          status=400) from None


def _encodable(value: object) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stored_rows(connection: Connection, run_id: int, seqs: Sequence[int]) -> dict[int, Any]:
    rows = connection.execute(
        select(TrialRecord.seq, TrialRecord.data).where(
            TrialRecord.run_id == run_id, TrialRecord.seq.in_(seqs)
        )
    )
    return {seq: data for seq, data in rows}


def _check_resent(connection: Connection, run_id: int, resent: Sequence[RecordIn]) -> None:
    """A resent seq must carry the data already stored, or it is a conflict."""
    stored = _stored_rows(connection, run_id, [r.seq for r in resent])
    conflicting = [r.seq for r in resent if stored.get(r.seq) != r.data]
    if conflicting:
        raise RecordError(
            "seq_conflict",
            "Some records reuse a sequence number already stored with different data.",
            seqs=conflicting[:MAX_MISSING_REPORTED],
        )


def save_records(claim: RunClaim, records: Sequence[RecordIn]) -> SaveResult:
    """Store the new records of the claimed in-progress run once each, and commit.

    Their keys are registered as trials.csv columns first (:mod:`.column_registry`), in the same
    transaction; a batch whose keys are all known costs no SQL for that. Such a batch is
    first offered to :func:`save_if_plain`, which stores it with the saves that other
    requests make meanwhile, unless the save needs a decision.
    """
    slug = claim.experiment_slug  # None only if the run does not exist
    datas = [r.data for r in records]
    if slug and records and plain_saves_on() and columns_known(slug, datas):
        counters = save_if_plain(plain_save(claim, records, db.engine.dialect.name))
        if counters is not None:
            return SaveResult(len(records), 0, *counters)
    with write_transaction() as connection:
        registered = register_columns(connection, slug, datas, claim.run_id) if slug else None
        result = _save(connection, claim, records)
    if result is None:  # not in progress (or completed meanwhile), or full: nothing kept
        raise _refusal(run_for_claim(claim))
    if slug:
        remember(slug, registered)
    return result


def _refusal(run: Run) -> RecordError:
    """Why the save's guard refused the run's (unsuperseded) claim: finished, or full."""
    if run.status != RunStatus.IN_PROGRESS:
        return finished_error(run.status)
    config = current_app.config
    return RecordError(
        "run_full",
        f"This run has stored as much as one run may (at most {config['RUN_MAX_RECORDS']} "
        f"records and {config['RUN_MAX_BYTES']} bytes of data); this batch was not stored.",
        status=413, saved=run.record_count)


Counters = tuple[int, int, int]  # requests this minute, records saved, next seq


@cache
def _sqlite_statements(dialect_class: type[Dialect]) -> tuple[DriverStatement, DriverStatement]:
    """The insert and the run update, compiled once, for the DB-API cursor (see
    :mod:`experiment_host.driver_statements`: on SQLite, SQLAlchemy's execution costs more
    than the work)."""
    return (DriverStatement.compile(_insert_statement("sqlite"), dialect_class),
            count_saved_on_driver(dialect_class))


def _store_sqlite(connection: Connection, parameters: dict[str, Any],
                  records: Sequence[RecordIn]) -> tuple[Counters | None, set[int]]:
    insert, count_saved = _sqlite_statements(type(connection.dialect))
    inserted = {seq for seq, in insert.rows(connection, parameters)} if records else set()
    size = parameters["batch_bytes"] if len(inserted) == len(records) else \
        record_bytes(r for r in records if r.seq in inserted)
    rows = count_saved.rows(connection, {**parameters, "inserted": len(inserted),
                                         "inserted_bytes": size})
    return (rows[0] if rows else None), inserted


def _store_postgresql(connection: Connection, parameters: dict[str, Any],
                      _records: Sequence[RecordIn]) -> tuple[Counters | None, set[int]]:
    row = connection.execute(_save_statement_postgresql(), parameters).one_or_none()
    if row is None:
        return None, set()
    return (row[0], row[1], row[2]), set(row[3] or ())


_STORE = {"sqlite": _store_sqlite, "postgresql": _store_postgresql}


def _batch_next(records: Sequence[RecordIn]) -> int:
    return max((r.seq for r in records), default=-1) + 1


def save_parameters(dialect: str, claim: RunClaim, records: Sequence[RecordIn]
                    ) -> dict[str, Any]:
    """The save statements' parameters: the guard's, the caps', the batch's and
    ``batch_next``."""
    return {**guard_parameters(claim), **cap_parameters(), **batch_parameters(dialect, records),
            "batch_next": _batch_next(records)}


def plain_save(claim: RunClaim, records: Sequence[RecordIn], dialect: str) -> PlainSave:
    """The save as the plain saves' statements take it (:mod:`plain_saves`)."""
    batch = batch_parameters(dialect, records)
    return PlainSave(claim.run_id, claim.page_key, [r.seq for r in records],
                     batch["records"], _batch_next(records), batch["batch_bytes"])


def _save(connection: Connection, claim: RunClaim, records: Sequence[RecordIn]
          ) -> SaveResult | None:
    dialect = connection.dialect.name
    parameters = save_parameters(dialect, claim, records)
    counters, inserted = _STORE[dialect](connection, parameters, records)
    if counters is None:
        connection.rollback()
        return None
    _within_budget(counters[0])
    resent = [r for r in records if r.seq not in inserted]
    if resent:
        _check_resent(connection, claim.run_id, resent)
    return SaveResult(len(inserted), len(resent), counters[1], counters[2])
