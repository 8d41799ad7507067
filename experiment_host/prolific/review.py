"""Submissions judged against our runs, so money follows verified data: a submission is
approved only when our run of it (same SESSION_ID and participant) completed with its
records; everything else is listed with the reason. Also ``sync``: Prolific's statuses
copied into the runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Platform, Run, RunStatus, utcnow
from ..runs import has_complete_data
from .client import ProlificClient
from .models import ProlificSubmission

APPROVE, SKIP, REJECT = "approve", "skip", "reject"
#: Most submission ids in one bulk approval (Prolific recommends at most 1,000).
BULK_APPROVE_SIZE = 1000
REJECTION_CATEGORIES = ("TOO_QUICKLY", "TOO_SLOWLY", "FAILED_INSTRUCTIONS", "INCOMP_LONGITUDINAL",
                        "FAILED_CHECK", "LOW_EFFORT", "MALINGERING", "NO_CODE", "BAD_CODE",
                        "NO_DATA", "UNSUPP_DEVICE", "OTHER")


@dataclass(frozen=True)
class Decision:
    submission: dict[str, Any]
    action: str
    reason: str

    @property
    def submission_id(self) -> str:
        return str(self.submission["id"])


def submissions(client: ProlificClient, study_id: str) -> list[dict[str, Any]]:
    return client.pages(f"studies/{study_id}/submissions/",
                        what=f"listing the submissions of study {study_id}")


def runs_for(submission_ids: Iterable[str]) -> dict[str, Run]:
    """Our Prolific runs of these submissions (SESSION_ID), by submission id."""
    ids = list(submission_ids)
    found: dict[str, Run] = {}
    for start in range(0, len(ids), 500):
        rows = db.session.scalars(select(Run).where(
            Run.platform == Platform.PROLIFIC, Run.session_key.in_(ids[start:start + 500])))
        found.update({run.session_key: run for run in rows})
    return found


def completed_runs_of_study(study_id: str, statuses: dict[str, str]) -> list[Run]:
    """Runs that completed here whose submission Prolific does not show as finished (not
    listed, or still active, returned or timed out): the participant never came back."""
    finished = ("AWAITING REVIEW", "APPROVED", "REJECTED", "SCREENED OUT")
    rows = db.session.scalars(select(Run).where(
        Run.platform == Platform.PROLIFIC, Run.study_key == study_id,
        Run.status == RunStatus.COMPLETED).order_by(Run.id))
    return [run for run in rows if statuses.get(run.session_key) not in finished]


def mismatch(run: Run, submission: dict[str, Any]) -> str | None:
    if run.worker_id.strip() == str(submission.get("participant_id", "")).strip():
        return None
    return (f"participant mismatch: our run {run.id} is {run.worker_id}, Prolific reports "
            f"{submission.get('participant_id')}")


def decide_approval(submission: dict[str, Any], run: Run | None) -> Decision:
    """Approve an awaiting-review submission with complete data; otherwise say why not."""
    status = submission.get("status")
    if status != "AWAITING REVIEW":
        return Decision(submission, SKIP, f"Prolific status {status}")
    if run is None:
        return Decision(submission, SKIP, "no run here for this submission (no data)")
    if problem := mismatch(run, submission):
        return Decision(submission, SKIP, problem)
    if not has_complete_data(run):
        return Decision(submission, SKIP, f"no complete data: run {run.id} is "
                                          f"{run.status.value} with {run.record_count} records")
    return Decision(submission, APPROVE, "completed with its data")


def decide_rejection(submission: dict[str, Any], run: Run | None, no_data_only: bool
                     ) -> Decision:
    """Reject a named awaiting-review submission; with ``--no-data`` only when it has none."""
    if submission.get("status") != "AWAITING REVIEW":
        return Decision(submission, SKIP, f"Prolific status {submission.get('status')}")
    if no_data_only and run is not None and run.record_count > 0:
        return Decision(submission, SKIP, f"run {run.id} has {run.record_count} records")
    return Decision(submission, REJECT, "no run" if run is None else f"run {run.id}")


def bulk_approve(client: ProlificClient, submission_ids: list[str]) -> None:
    """Approve in bulk (Prolific's recommended variant: submission ids); safe to repeat."""
    client.post("submissions/bulk-approve/", {"submission_ids": submission_ids},
                what=f"approving {len(submission_ids)} submission(s)")


def reject(client: ProlificClient, submission_id: str, message: str, category: str) -> None:
    client.post(f"submissions/{submission_id}/transition/",
                {"action": "REJECT", "message": message, "rejection_category": category},
                what=f"rejecting submission {submission_id}")


def remember(api_url: str, study_id: str, items: Iterable[dict[str, Any]],
             status: str | None = None) -> None:
    """Record Prolific's status of these submissions (``status`` overrides); caller commits."""
    items = list(items)
    known = {row.submission_id: row for row in db.session.scalars(select(ProlificSubmission).where(
        ProlificSubmission.api_url == api_url,
        ProlificSubmission.submission_id.in_([str(s["id"]) for s in items])))}
    for item in items:
        row = known.get(str(item["id"]))
        if row is None:
            row = ProlificSubmission(api_url=api_url, study_id=study_id,
                                     submission_id=str(item["id"]),
                                     participant_id=str(item.get("participant_id", "")))
            db.session.add(row)
        row.status = status or str(item.get("status"))


#: Prolific submission status → run status, and the run statuses it may move from.
SYNCED = {
    "AWAITING REVIEW": (RunStatus.SUBMITTED, (RunStatus.IN_PROGRESS, RunStatus.COMPLETED,
                                              RunStatus.RETURNED, RunStatus.ABANDONED)),
    "APPROVED": (RunStatus.APPROVED, (RunStatus.IN_PROGRESS, RunStatus.COMPLETED,
                                      RunStatus.SUBMITTED, RunStatus.RETURNED,
                                      RunStatus.ABANDONED, RunStatus.REJECTED)),
    "REJECTED": (RunStatus.REJECTED, (RunStatus.IN_PROGRESS, RunStatus.COMPLETED,
                                      RunStatus.SUBMITTED, RunStatus.RETURNED,
                                      RunStatus.ABANDONED)),
    "RETURNED": (RunStatus.RETURNED, (RunStatus.IN_PROGRESS, RunStatus.ABANDONED)),
    "TIMED-OUT": (RunStatus.ABANDONED, (RunStatus.IN_PROGRESS,)),
}


@dataclass
class SyncResult:
    changes: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)


def sync_runs(items: list[dict[str, Any]]) -> SyncResult:
    """Copy Prolific's statuses into our runs: a returned or timed-out run stops holding its
    quota place at once; approved and rejected are recorded. Caller commits."""
    result = SyncResult()
    runs = runs_for(str(s["id"]) for s in items)
    for item in items:
        run = runs.get(str(item["id"]))
        rule = SYNCED.get(str(item.get("status")))
        if run is None or rule is None:
            continue
        if problem := mismatch(run, item):
            result.skipped.append(f"{item['id']}: {problem}")
            continue
        target, sources = rule
        if run.status not in sources:
            continue
        run.status = target
        if target == RunStatus.SUBMITTED:
            run.submitted_at = utcnow()
        elif target in (RunStatus.APPROVED, RunStatus.REJECTED):
            run.reviewed_at = utcnow()
        result.changes[target.value] += 1
    return result
