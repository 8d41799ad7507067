"""Bring our runs in line with MTurk (submitted, approved, rejected, returned, abandoned),
so that the dashboard and the money commands judge runs by what MTurk decided; and report
a HIT's assignments joined with our runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select

from ..extensions import db
from ..models import Platform, Run, RunStatus, utcnow
from ..runs import has_complete_data
from .gateway import AssignmentInfo, Gateway, HitInfo
from .review import worker_mismatch

BY_ASSIGNMENT_STATUS = {
    "Submitted": RunStatus.SUBMITTED,
    "Approved": RunStatus.APPROVED,
    "Rejected": RunStatus.REJECTED,
}
#: Run statuses MTurk's answer may move forward from.
MOVABLE = {
    RunStatus.SUBMITTED: (RunStatus.IN_PROGRESS, RunStatus.COMPLETED, RunStatus.RETURNED,
                          RunStatus.ABANDONED),
    RunStatus.APPROVED: (RunStatus.IN_PROGRESS, RunStatus.COMPLETED, RunStatus.SUBMITTED,
                         RunStatus.REJECTED, RunStatus.RETURNED, RunStatus.ABANDONED),
    RunStatus.REJECTED: (RunStatus.IN_PROGRESS, RunStatus.COMPLETED, RunStatus.SUBMITTED,
                         RunStatus.RETURNED, RunStatus.ABANDONED),
}


@dataclass
class HitReport:
    """A HIT's MTurk counts joined with our runs."""

    hit: HitInfo
    counts: Counter[str]
    complete: list[str] = field(default_factory=list)
    without_data: list[str] = field(default_factory=list)
    not_submitted: list[str] = field(default_factory=list)


def runs_of_hit(hit_id: str, assignment_ids: list[str]) -> list[Run]:
    """Our MTurk runs of this HIT (by hitId or by one of its assignment ids)."""
    match = Run.study_key == hit_id
    if assignment_ids:
        match = or_(match, Run.session_key.in_(assignment_ids))
    return list(db.session.scalars(select(Run).where(Run.platform == Platform.MTURK, match)))


def report_hit(gateway: Gateway, hit_id: str) -> HitReport:
    """MTurk's state of the HIT with which submitted assignments have data, and which not."""
    hit = gateway.get_hit(hit_id)
    assignments = gateway.assignments(hit_id)
    runs = {r.session_key: r for r in runs_of_hit(hit_id, [a.assignment_id for a in assignments])}
    report = HitReport(hit, Counter(a.status for a in assignments))
    for a in assignments:
        if a.status == "Submitted":
            target = report.complete if has_complete_data(runs.get(a.assignment_id)) \
                else report.without_data
            target.append(a.assignment_id)
    listed = {a.assignment_id for a in assignments}
    report.not_submitted = sorted(key for key, run in runs.items()
                                  if run.status == RunStatus.COMPLETED and key not in listed)
    return report


def _apply_listed(run: Run, assignment: AssignmentInfo) -> str | None:
    wanted = BY_ASSIGNMENT_STATUS.get(assignment.status)
    if wanted is None or run.status not in MOVABLE[wanted]:
        return None
    run.status = wanted
    if wanted == RunStatus.SUBMITTED:
        run.submitted_at = assignment.submitted_at or utcnow()
    else:
        run.submitted_at = run.submitted_at or assignment.submitted_at
        run.reviewed_at = utcnow()
    return wanted.value


def _apply_unlisted(run: Run, hit: HitInfo) -> str | None:
    if run.status != RunStatus.IN_PROGRESS:
        return None
    timed_out = run.last_seen_at + timedelta(seconds=hit.assignment_duration_seconds) < utcnow()
    if timed_out:
        run.status = RunStatus.ABANDONED
    elif hit.status == "Reviewable":
        run.status = RunStatus.RETURNED
    else:
        return None
    return run.status.value


@dataclass
class SyncResult:
    """Changes by new run status, and the runs left alone with the reason."""

    changes: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)


# Sync rule for each MTurk run of a HIT (matched by Run.session_key == AssignmentId):
# Submitted → SUBMITTED (+submitted_at), Approved → APPROVED, Rejected → REJECTED
# (+reviewed_at). An in-progress run whose assignment MTurk no longer lists becomes
# ABANDONED when it was last seen longer ago than the HIT's assignment duration (the
# assignment timed out), otherwise RETURNED when the HIT is Reviewable (nothing is pending
# any more, so the worker gave it back). Other runs are left alone, and so is a run whose
# assignment MTurk reports for another worker (skipped, with the reason).
def sync_hit(gateway: Gateway, hit_id: str) -> SyncResult:
    """Update our runs of one HIT from MTurk. Caller commits."""
    hit = gateway.get_hit(hit_id)
    assignments = {a.assignment_id: a for a in gateway.assignments(hit_id)}
    result = SyncResult()
    for run in runs_of_hit(hit_id, list(assignments)):
        listed = assignments.get(run.session_key)
        if listed is not None and (mismatch := worker_mismatch(run, listed)):
            result.skipped.append(f"{listed.assignment_id}: {mismatch}")
            continue
        change = _apply_listed(run, listed) if listed else _apply_unlisted(run, hit)
        if change:
            result.changes[change] += 1
    return result
