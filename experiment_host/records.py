"""Saving trial records and completing runs.

Each save is one ``INSERT ... ON CONFLICT DO NOTHING`` of the new records plus one update of
the run's counter: O(1) in the records already saved, and idempotent per (run, seq).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select, update

from .database import insert_ignoring_duplicates
from .experiments import Experiment
from .extensions import db
from .models import Run, RunStatus, TrialRecord, utcnow

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


def touch_in_progress(run_id: int) -> bool:
    """Mark the run as seen now and count the request, if the run still takes records.

    Locks the run's row. The per-run request budget (RUN_REQUESTS_PER_MINUTE) is counted on
    the row itself, so it holds across every gunicorn worker and host at no extra query.
    """
    window = int(time.time() // 60)
    count = db.session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.IN_PROGRESS)
        .values(
            last_seen_at=utcnow(),
            rate_count=case((Run.rate_window == window, Run.rate_count + 1), else_=1),
            rate_window=window,
        )
        .returning(Run.rate_count)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if count is None:
        return False
    if count > current_app.config["RUN_REQUESTS_PER_MINUTE"]:
        raise RecordError("rate_limited", "Too many requests for this run; slow down and retry.",
                          status=429)
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


def next_seq(run_id: int) -> int:
    """One more than the highest stored seq (0 when there is none)."""
    highest = db.session.scalar(select(func.max(TrialRecord.seq)).where(TrialRecord.run_id == run_id))
    return 0 if highest is None else highest + 1


def save_records(run: Run, records: Sequence[RecordIn]) -> SaveResult:
    """Store new records of an in-progress run once each; the caller commits."""
    if not touch_in_progress(run.id):
        db.session.refresh(run)
        raise _finished_error(run)
    now = utcnow()
    rows = [{"run_id": run.id, "seq": r.seq, "data": r.data, "received_at": now} for r in records]
    inserted: set[int] = set()
    if rows:
        statement = insert_ignoring_duplicates(TrialRecord, rows, ["run_id", "seq"])
        inserted = set(db.session.scalars(statement.returning(TrialRecord.seq)))
    resent = [r for r in records if r.seq not in inserted]
    if resent:
        stored = _stored_rows(run.id, [r.seq for r in resent])
        conflicting = [r.seq for r in resent if stored.get(r.seq) != r.data]
        if conflicting:
            raise RecordError(
                "seq_conflict",
                "Some records reuse a sequence number already stored with different data.",
                seqs=conflicting[:MAX_MISSING_REPORTED],
            )
    saved = db.session.execute(
        update(Run)
        .where(Run.id == run.id)
        .values(record_count=Run.record_count + len(inserted))
        .returning(Run.record_count)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return SaveResult(len(inserted), len(resent), saved, next_seq(run.id))


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
    db.session.refresh(run)
    run.status = RunStatus.COMPLETED
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
