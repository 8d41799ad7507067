"""Saving trial records and completing runs.

Each save is one ``INSERT ... ON CONFLICT DO NOTHING`` of the new records plus one update of
the run's counter: O(1) in the records already saved, and idempotent per (run, seq).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import TextClause, Update, bindparam, case, func, select, text, update

from .columns import register_columns
from .experiments import Experiment
from .extensions import db
from .models import Run, RunStatus, TrialRecord, UTCDateTime, utcnow

MAX_MISSING_REPORTED = 100


class RecordError(Exception):
    """A save or complete that cannot be done; ``code`` and ``status`` go to the client."""

    def __init__(self, code: str, message: str, status: int = 409, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra


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


def _in_progress_update(**values: Any) -> Update:
    """Update an in-progress run: seen now, one more request in this minute, ``values``."""
    window = bindparam("window")
    return (
        update(Run)
        .where(Run.id == bindparam("run_id"), Run.status == RunStatus.IN_PROGRESS)
        .values(
            last_seen_at=bindparam("now", type_=UTCDateTime()),
            rate_count=case((Run.rate_window == window, Run.rate_count + 1), else_=1),
            rate_window=window,
            **values,
        )
        .execution_options(synchronize_session=False)
    )


def _within_budget(requests_this_minute: int) -> None:
    if requests_this_minute > current_app.config["RUN_REQUESTS_PER_MINUTE"]:
        raise RecordError("rate_limited", "Too many requests for this run; slow down and retry.",
                          status=429)


@cache
def _touch_statement() -> Update:
    return _in_progress_update().returning(Run.rate_count)


def touch_in_progress(run_id: int) -> bool:
    """Mark the run as seen now and count the request, if the run still takes records.

    Locks the run's row. The per-run request budget (RUN_REQUESTS_PER_MINUTE) is counted on
    the row itself, so it holds across every gunicorn worker and host at no extra query.
    """
    count = db.session.execute(_touch_statement(), {
        "run_id": run_id, "now": utcnow(), "window": int(time.time() // 60),
    }).scalar_one_or_none()
    if count is None:
        return False
    _within_budget(count)
    return True


def _finished_error(run: Run) -> RecordError:
    return RecordError(
        "run_finished",
        f"This run is already {run.status.value.replace('_', ' ')}; no more data is accepted.",
        status=409,
        status_now=run.status.value,
    )


def _stored_rows(run_id: int, seqs: Sequence[int]) -> dict[int, Any]:
    rows = db.session.execute(
        select(TrialRecord.seq, TrialRecord.data).where(
            TrialRecord.run_id == run_id, TrialRecord.seq.in_(seqs)
        )
    )
    return {seq: data for seq, data in rows}


#: The batch travels as array / JSON parameters that the database unpacks: a short
#: statement, compiled and parsed once, whatever the batch size (a multi-row VALUES list
#: makes drivers re-parse a long statement on every save). PostgreSQL gets the data as text
#: cast to json, which keeps every string JSON can carry ("\u0000" included) verbatim.
INSERT_BATCH = {
    "postgresql": """
        INSERT INTO trial_records (run_id, seq, data, received_at)
        SELECT :run_id, item.seq, CAST(item.data AS json), :now
        FROM unnest(CAST(:seqs AS integer[]), CAST(:datas AS text[])) AS item(seq, data)
        ON CONFLICT (run_id, seq) DO NOTHING
        RETURNING seq""",
    "sqlite": """
        INSERT INTO trial_records (run_id, seq, data, received_at)
        SELECT :run_id, json_extract(value, '$.seq'), json_extract(value, '$.data'), :now
        FROM json_each(:records) WHERE true
        ON CONFLICT (run_id, seq) DO NOTHING
        RETURNING seq""",
}


@cache
def _insert_statement(dialect: str) -> TextClause:
    return text(INSERT_BATCH[dialect]).bindparams(bindparam("now", type_=UTCDateTime()))


def _batch_parameters(dialect: str, records: Sequence[RecordIn]) -> dict[str, Any]:
    if dialect == "postgresql":
        return {"seqs": [r.seq for r in records],
                "datas": [json.dumps(r.data, ensure_ascii=False) for r in records]}
    return {"records": json.dumps([{"seq": r.seq, "data": r.data} for r in records],
                                  ensure_ascii=False)}


def _insert_new(run_id: int, records: Sequence[RecordIn]) -> set[int]:
    """Insert the records the run does not hold yet; return their seqs."""
    if not records:
        return set()
    dialect = db.session.get_bind().dialect.name
    statement = _insert_statement(dialect)
    parameters = {"run_id": run_id, "now": utcnow(), **_batch_parameters(dialect, records)}
    return set(db.session.scalars(statement, parameters))


def _check_resent(run_id: int, resent: Sequence[RecordIn]) -> None:
    """A resent seq must carry the data already stored, or it is a conflict."""
    stored = _stored_rows(run_id, [r.seq for r in resent])
    conflicting = [r.seq for r in resent if stored.get(r.seq) != r.data]
    if conflicting:
        raise RecordError(
            "seq_conflict",
            "Some records reuse a sequence number already stored with different data.",
            seqs=conflicting[:MAX_MISSING_REPORTED],
        )


@cache
def _count_saved_statement() -> Update:
    """The save path's run update, built once (constructing SQL expressions costs time)."""
    batch_next = bindparam("batch_next")
    return _in_progress_update(
        record_count=Run.record_count + bindparam("inserted"),
        next_seq=case((Run.next_seq < batch_next, batch_next), else_=Run.next_seq),
    ).returning(Run.rate_count, Run.record_count, Run.next_seq)


def _count_saved(run: Run, inserted: int, batch_next: int) -> tuple[int, int]:
    """One guarded update of the run: seen now, request budget, counters; locks its row."""
    counters = db.session.execute(_count_saved_statement(), {
        "run_id": run.id, "now": utcnow(), "window": int(time.time() // 60),
        "inserted": inserted, "batch_next": batch_next,
    }).one_or_none()
    if counters is None:  # completed meanwhile: nothing of this request may stay
        db.session.rollback()
        db.session.refresh(run)
        raise _finished_error(run)
    _within_budget(counters[0])
    return counters[1], counters[2]


def save_records(run: Run, records: Sequence[RecordIn]) -> SaveResult:
    """Store new records of an in-progress run once each; the caller commits.

    Two statements in the common case: the insert, and one update of the run's row.
    """
    if run.status != RunStatus.IN_PROGRESS:
        raise _finished_error(run)
    inserted = _insert_new(run.id, records)
    resent = [r for r in records if r.seq not in inserted]
    if resent:
        _check_resent(run.id, resent)
    register_columns(run.experiment_slug, [r.data for r in records if r.seq in inserted])
    batch_next = max((r.seq for r in records), default=-1) + 1
    saved, next_seq_value = _count_saved(run, len(inserted), batch_next)
    return SaveResult(len(inserted), len(resent), saved, next_seq_value)


def missing_seqs(run_id: int, total: int) -> list[int]:
    """The first few seqs below ``total`` that the server does not hold."""
    present = db.session.scalars(
        select(TrialRecord.seq)
        .where(TrialRecord.run_id == run_id, TrialRecord.seq < total)
        .order_by(TrialRecord.seq)
    )
    missing: list[int] = []
    expected = 0
    for seq in present:
        missing.extend(range(expected, min(seq, expected + MAX_MISSING_REPORTED)))
        expected = seq + 1
        if len(missing) >= MAX_MISSING_REPORTED:
            return missing[:MAX_MISSING_REPORTED]
    missing.extend(range(expected, min(total, expected + MAX_MISSING_REPORTED)))
    return missing[:MAX_MISSING_REPORTED]


def completion_code(experiment: Experiment) -> str:
    """The experiment's fixed code, or a fresh random one for this run."""
    return experiment.config.completion_code or "C" + secrets.token_hex(5).upper()


def complete_run(run: Run, experiment: Experiment, total: int) -> Run:
    """Mark the run completed once all ``total`` records are stored; the caller commits."""
    if not touch_in_progress(run.id):
        db.session.refresh(run)
        if run.status == RunStatus.COMPLETED:
            raise RecordError("already_completed", "This run is already completed.",
                              completion_code=run.completion_code)
        raise _finished_error(run)
    count, highest = db.session.execute(
        select(func.count(), func.max(TrialRecord.seq)).where(TrialRecord.run_id == run.id)
    ).one()
    if highest is not None and highest >= total:
        raise RecordError(
            "total_mismatch",
            f"The server holds records up to seq {highest}, more than the {total} announced.",
            saved=count,
        )
    if count != total:
        raise RecordError(
            "records_missing",
            f"{total - count} of {total} records have not arrived yet; send them, then complete.",
            missing=missing_seqs(run.id, total),
            saved=count,
        )
    run.status = RunStatus.COMPLETED  # only the changed columns are written
    run.completed_at = utcnow()
    run.completion_code = completion_code(experiment)
    return run


BONUS_STATUSES = (RunStatus.IN_PROGRESS, RunStatus.COMPLETED)


def set_bonus(run: Run, amount: Decimal, reason: str, max_bonus: Decimal) -> Run:
    """Record the bonus the experiment awards this run (paid by ``flask hits bonus``).

    Setting it again replaces it (the same value twice is fine); the caller commits.
    """
    if run.status not in BONUS_STATUSES:
        raise _finished_error(run)
    if amount > max_bonus:
        raise RecordError("bonus_too_large",
                          f"The bonus ${amount:.2f} is above this experiment's maximum "
                          f"${max_bonus:.2f}.", status=400, max_bonus=f"{max_bonus:.2f}")
    run.bonus_cents = int(amount * 100)
    run.bonus_reason = reason
    return run
