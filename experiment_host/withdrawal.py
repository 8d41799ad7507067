"""Deleting a participant's data on request (withdrawn consent): their runs go whole, with
their trial records and every identifying field, so nothing of them is left to leak.

A deleted run is gone, not blanked: the condition tallies drop it (their triggers), so the
quota place it held is free again, and the funnel, the dashboard and the exports, all
computed from the runs that remain, agree with each other afterwards. The audit log keeps
that a deletion happened (how many runs), never whose. What stays, by design: aggregate
counters (previews, arrivals), the experiment's trials.csv column names, and a ledger of
bonuses already paid (it is what stops a retry from paying twice) -- the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, func, or_, select

from .audit import audit
from .extensions import db
from .links import release_places
from .links.models import LinkEntry
from .models import Platform, Run, RunStatus, TrialRecord
from .prolific.models import ProlificSubmission


class WithdrawalError(ValueError):
    """A deletion request that cannot be carried out, with a message for the researcher."""


@dataclass
class DeletionPlan:
    """The runs a request matches, and what the researcher should know before deleting."""

    slug: str
    runs: list[Run]
    warnings: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(run.record_count for run in self.runs)


def plan_deletion(slug: str, run_id: int | None = None, worker_id: str | None = None,
                  code: str | None = None) -> DeletionPlan:
    """The runs of ``slug`` to delete, chosen by exactly one of run id, worker id (any
    platform; MTurk's in any case) or completion code."""
    given = [value for value in (run_id, worker_id, code) if value not in (None, "")]
    if len(given) != 1:
        raise WithdrawalError("Choose the runs by exactly one of: run id, worker id, "
                              "completion code.")
    statement = select(Run).where(Run.experiment_slug == slug).order_by(Run.id)
    if run_id is not None:
        statement = statement.where(Run.id == run_id)
    elif worker_id:
        wanted = worker_id.strip()
        statement = statement.where(or_(Run.worker_id == wanted,
                                        func.upper(Run.worker_id) == wanted.upper()))
    else:
        statement = statement.where(Run.completion_code == (code or "").strip())
    runs = list(db.session.scalars(statement))
    if not runs:
        raise WithdrawalError(f"No run of {slug!r} matches; nothing to delete.")
    return DeletionPlan(slug, runs, _warnings(runs))


def _warnings(runs: list[Run]) -> list[str]:
    warnings = []
    unreviewed = [run for run in runs if not run.is_test and run.platform != "link"
                  and run.status in (RunStatus.COMPLETED, RunStatus.SUBMITTED)]
    if unreviewed:
        warnings.append(
            f"{len(unreviewed)} run(s) may still await review on the platform: approve them "
            "first if the participant is to be paid. Once deleted, their submissions have no "
            "data here, and a `reject --no-data` would reject them.")
    if any(run.bonus_cents for run in runs):
        warnings.append("A bonus was set for a run: a record of a bonus already paid stays "
                        "in the payment ledger, so that it is never paid twice.")
    return warnings


def delete_runs(plan: DeletionPlan) -> int:
    """Delete the plan's runs and their records, and log that it happened; the caller
    commits. Returns how many runs went (a run deleted meanwhile is not counted)."""
    ids = [run.id for run in plan.runs]
    submissions = [run.session_key for run in plan.runs if run.platform == Platform.PROLIFIC]
    link_sessions = [run.session_key for run in plan.runs if run.platform == Platform.LINK]
    for run in plan.runs:
        db.session.expunge(run)
    db.session.execute(delete(TrialRecord).where(TrialRecord.run_id.in_(ids)))
    db.session.execute(delete(LinkEntry).where(LinkEntry.run_id.in_(ids)))
    release_places(link_sessions)
    db.session.execute(delete(ProlificSubmission).where(
        ProlificSubmission.submission_id.in_(submissions)))
    gone = db.session.execute(delete(Run).where(Run.id.in_(ids))).rowcount or 0
    if gone:
        audit("delete", plan.slug, f"{gone} run(s) deleted on request")
    return gone
