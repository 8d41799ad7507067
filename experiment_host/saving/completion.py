"""Completing runs, and the bonus an experiment awards: the end of every task page.

Completing is one guarded update of the run's counters (no load of the run first); only when
it refuses is the run read, to say why: already completed, finished otherwise, fewer records
than the experiment's ``min_records`` (a run with no data is never completed, so never paid),
or records still missing (the first few are named so the client can resend them).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from sqlalchemy import String, Update, bindparam, case, func, select, update

from ..completion_codes import COMPLETED
from ..database import write_transaction
from ..experiments import Experiment
from ..extensions import db
from ..models import Platform, Run, RunStatus, TrialRecord, UTCDateTime
from ..runs import run_for_claim
from ..tokens import RunClaim
from .records import MAX_MISSING_REPORTED, RecordError, finished_error
from .run_guard import claimed_in_progress, guard_parameters


@dataclass(frozen=True)
class Completed:
    status: RunStatus
    completion_code: str


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


def _prolific_code(experiment: Experiment, outcome: str) -> str | None:
    """The Prolific code of ``outcome``: what a Prolific participant takes back (and so
    what the run records), whatever code other platforms get."""
    try:
        return experiment.config.prolific.code_for(outcome).code
    except KeyError:
        return None


@cache
def _complete_statement() -> Update:
    """Complete the claimed run if it holds exactly seqs 0 .. total-1 (its counters say so)
    and at least ``min_records`` of them."""
    total = bindparam("total")
    now = bindparam("now", type_=UTCDateTime())
    return (
        update(Run)
        .where(claimed_in_progress(), Run.record_count == total, Run.next_seq <= total,
               Run.record_count >= bindparam("min_records"))
        .values(status=RunStatus.COMPLETED, completed_at=now, last_seen_at=now,
                outcome=bindparam("outcome"),
                completion_code=case((Run.platform == Platform.PROLIFIC,
                                      func.coalesce(bindparam("prolific_code", type_=String()),
                                                    bindparam("code"))),
                                     else_=bindparam("code")))
        .returning(Run.completion_code)
    )


def complete_run(claim: RunClaim, experiment: Experiment, total: int,
                 outcome: str = COMPLETED) -> Completed:
    """Mark the claimed run completed with ``outcome`` once all ``total`` records are
    stored, and commit.

    ``record_count`` counts the distinct seqs stored and ``next_seq`` is one past the
    highest, both kept in the save's transaction: count == total and next_seq <= total
    mean seqs 0 .. total-1 are all there. Only a run in progress completes, so the first
    outcome that completes it stays (a retried or second finish changes nothing).
    """
    min_records = experiment.config.min_records
    with write_transaction() as connection:
        code = connection.execute(_complete_statement(), {
            **guard_parameters(claim), "total": total, "code": completion_code(experiment),
            "prolific_code": _prolific_code(experiment, outcome), "outcome": outcome,
            "min_records": min_records,
        }).scalar_one_or_none()
    if code is None:
        raise _not_completable(run_for_claim(claim), total, min_records)
    return Completed(RunStatus.COMPLETED, code)


def _not_completable(run: Run, total: int, min_records: int) -> RecordError:
    if run.status == RunStatus.COMPLETED:
        return RecordError("already_completed", "This run is already completed.",
                           completion_code=run.completion_code, outcome=run.outcome)
    if run.status != RunStatus.IN_PROGRESS:
        return finished_error(run.status)
    if run.next_seq > total:
        return RecordError(
            "total_mismatch",
            f"The server holds records up to seq {run.next_seq - 1}, more than the {total} "
            "announced.",
            saved=run.record_count,
        )
    if total < min_records:
        return RecordError(
            "too_few_records",
            f"This run holds {total} record(s); this experiment needs at least {min_records} "
            "before it can be completed.",
            saved=run.record_count, min_records=min_records,
        )
    return RecordError(
        "records_missing",
        f"{total - run.record_count} of {total} records have not arrived yet; send them, "
        "then complete.",
        missing=missing_seqs(run.id, total),
        saved=run.record_count,
    )


def set_bonus(run: Run, amount: Decimal, reason: str, max_bonus: Decimal) -> Run:
    """Record the bonus the experiment awards this run (paid by ``flask hits bonus``).

    Setting it again replaces it (the same value twice is fine); the caller commits.
    """
    if run.status not in RunStatus.BONUSABLE:
        raise finished_error(run.status)
    if amount > max_bonus:
        raise RecordError("bonus_too_large",
                          f"The bonus ${amount:.2f} is above this experiment's maximum "
                          f"${max_bonus:.2f}.", status=400, max_bonus=f"{max_bonus:.2f}")
    run.bonus_cents = int(amount * 100)
    run.bonus_reason = reason
    return run
