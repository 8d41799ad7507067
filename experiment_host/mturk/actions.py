"""Review, bonus and sync as plain functions: build the plan (what will happen, what it
costs, what is skipped and why), then carry it out. ``flask hits`` and the study console
are two faces of these functions, so both show the same plan and do the same thing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from sqlalchemy import select

from ..audit import audit
from ..dry_run import commit_unless
from ..extensions import db
from ..models import Platform, Run, RunStatus
from . import bonuses
from .errors import MTurkError
from .exclusion import ExclusionResult, refresh_all
from .gateway import AssignmentInfo, Gateway
from .review import (
    APPROVE,
    REJECT,
    SKIP,
    Decision,
    Failure,
    assignments_of,
    decide_approval,
    decide_rejection,
    look_up,
    mark_reviewed,
    run_concurrently,
    runs_for,
)
from .sync import SyncResult, sync_hit

T = TypeVar("T")
R = TypeVar("R")
#: Called once for each item done (the CLI moves its progress bar).
Progress = Callable[[], None]
NOT_CONFIRMED = "not among the assignments confirmed"


def _noop() -> None:
    return None


def run_all(items: list[T], work: Callable[[T], R], workers: int, progress: Progress = _noop
            ) -> tuple[list[tuple[T, R]], list[tuple[T, MTurkError]]]:
    """Run ``work`` over the items concurrently; (done, failed), never stopping early."""
    done: list[tuple[T, R]] = []
    failed: list[tuple[T, MTurkError]] = []
    for item, result, error in run_concurrently(items, work, workers):
        if error is None:
            done.append((item, result))  # type: ignore[arg-type]
        else:
            failed.append((item, error))
        progress()
    return done, failed


def _verb(action: str) -> str:
    return "approve" if action == APPROVE else "reject"


@dataclass(frozen=True)
class ReviewPlan:
    """What approving or rejecting will do, decided assignment by assignment."""

    action: str
    decisions: tuple[Decision, ...]
    refused: tuple[Failure, ...] = ()
    message: str = ""

    @property
    def chosen(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == self.action]

    @property
    def skipped(self) -> list[Decision]:
        return [d for d in self.decisions if d.action != self.action]

    def lines(self) -> list[str]:
        """The plan as the CLI prints it and the console shows it."""
        shown = [f"  skip {d.assignment.assignment_id} (worker {d.assignment.worker_id}): "
                 f"{d.reason}" for d in self.skipped]
        if self.action == REJECT:
            shown += [f"  reject {d.assignment.assignment_id} (worker {d.assignment.worker_id})"
                      f": {d.reason}" for d in self.chosen]
        return [*shown, f"{len(self.chosen)} to {_verb(self.action)}, "
                        f"{len(self.skipped)} skipped."]

    def confirmed(self, assignment_ids: Collection[str]) -> ReviewPlan:
        """Only what was shown and confirmed is done; the rest is skipped."""
        return replace(self, decisions=tuple(
            d if d.action != self.action or d.assignment.assignment_id in assignment_ids
            else replace(d, action=SKIP, reason=NOT_CONFIRMED) for d in self.decisions))


def _only(assignments: list[AssignmentInfo], ids: Collection[str] | None
          ) -> list[AssignmentInfo]:
    return assignments if ids is None else [a for a in assignments if a.assignment_id in ids]


def approval_plan(gateway: Gateway, hit_ids: list[str],
                  assignment_ids: Collection[str] | None = None) -> ReviewPlan:
    """Approve the HITs' submitted assignments whose run (same worker) holds complete data
    (all of them, or only ``assignment_ids``)."""
    found, refused = assignments_of(gateway, hit_ids, ("Submitted",))
    found = _only(found, assignment_ids)
    runs = runs_for(found)
    return ReviewPlan(APPROVE, tuple(decide_approval(a, runs.get(a.assignment_id))
                                     for a in found), tuple(refused))


def rejection_plan(gateway: Gateway, message: str, assignment_ids: Collection[str] = (),
                   hit_ids: list[str] | None = None) -> ReviewPlan:
    """Reject the assignments named, or (``hit_ids``) the HITs' submitted assignments that
    have no data; ``message`` is what the worker reads."""
    if hit_ids is None:
        found, refused = look_up(gateway, assignment_ids)
    else:
        found, refused = assignments_of(gateway, hit_ids, ("Submitted",))
    runs = runs_for(found)
    named = set(assignment_ids) if hit_ids is None else set()
    decisions = tuple(decide_rejection(a, runs.get(a.assignment_id), hit_ids is not None, named)
                      for a in found)
    return ReviewPlan(REJECT, decisions, tuple(refused), message.strip())


@dataclass
class ReviewOutcome:
    """What a review did: each decision carried out (True: changed now) and the failures."""

    plan: ReviewPlan
    done: list[tuple[Decision, bool]] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @property
    def fresh(self) -> int:
        return sum(1 for _, changed in self.done if changed)

    def summary(self) -> str:
        verb = _verb(self.plan.action).rstrip("e")
        return (f"Summary: {self.fresh} {verb}ed now, {len(self.done) - self.fresh} were "
                f"already, {len(self.plan.skipped)} skipped, "
                f"{len(self.plan.refused) + len(self.failed)} failed.")

    @property
    def failures(self) -> list[Failure]:
        return [*self.plan.refused, *self.failed]


def audit_assignments(action: str, assignment_ids: list[str]) -> None:
    """Log ``action`` once per experiment of these assignments: how many, not whose."""
    if not assignment_ids:
        return
    slugs = Counter(db.session.scalars(select(Run.experiment_slug).where(
        Run.platform == Platform.MTURK, Run.session_key.in_(assignment_ids))))
    for slug, count in slugs.items():
        audit(action, slug, f"{count} assignment(s)")


def carry_out_review(gateway: Gateway, plan: ReviewPlan, workers: int,
                     progress: Progress = _noop) -> ReviewOutcome:
    """Approve or reject the plan's chosen assignments and mark their runs; commits.
    Repeating it is harmless: an assignment already so reviewed counts as done."""
    if plan.action == APPROVE:
        def work(d: Decision) -> bool:
            return gateway.approve(d.assignment.assignment_id)
        status = RunStatus.APPROVED
    else:
        def work(d: Decision) -> bool:
            return gateway.reject(d.assignment.assignment_id, plan.message)
        status = RunStatus.REJECTED
    done, failed = run_all(plan.chosen, work, workers, progress)
    for decision, _ in done:
        mark_reviewed(decision.run_id, status)
    audit_assignments("approve" if plan.action == APPROVE else "reject",
                      [d.assignment.assignment_id for d, _ in done])
    db.session.commit()
    return ReviewOutcome(plan, done, [(d.assignment.assignment_id, e) for d, e in failed])


@dataclass(frozen=True)
class BonusRound:
    """Bonuses to pay (and assignments to approve first), with what is skipped and why."""

    label: str
    plan: bonuses.BonusPlan
    approvals: ReviewPlan
    refused: tuple[Failure, ...] = ()

    def lines(self) -> list[str]:
        """The plan as the CLI prints it and the console shows it."""
        shown = [f"  skip {bonus.assignment_id}: {reason}" for bonus, reason in self.plan.skipped]
        shown += [f"  pay ${bonus.amount:.2f} on {bonus.assignment_id} (worker "
                  f"{bonus.worker_id}): {bonus.reason}" for bonus in self.plan.to_pay]
        if self.approvals.chosen:
            shown.append(f"{len(self.approvals.chosen)} submitted assignment(s) to approve "
                         "first.")
        plan = self.plan
        shown.append(f"{len(plan.to_pay)} bonus(es) to pay: ${plan.total:.2f} + Amazon's fee "
                     f"${plan.fees:.2f} = ${plan.total + plan.fees:.2f} on {self.label}")
        return shown

    @property
    def empty(self) -> bool:
        return not (self.plan.to_pay or self.approvals.chosen)

    def confirmed(self, to_approve: Collection[str], to_pay: Collection[str]) -> BonusRound:
        """Only the approvals and bonuses shown and confirmed are done."""
        kept = [b for b in self.plan.to_pay if b.assignment_id in to_pay]
        dropped = [(bonuses.Wanted(b.assignment_id, b.amount, b.reason), NOT_CONFIRMED)
                   for b in self.plan.to_pay if b.assignment_id not in to_pay]
        return replace(self, plan=bonuses.BonusPlan(kept, [*self.plan.skipped, *dropped]),
                       approvals=self.approvals.confirmed(to_approve))


def bonus_round(gateway: Gateway, hit_ids: list[str] | None = None,
                wanted: list[bonuses.Wanted] | None = None, approve: bool = False,
                assignment_ids: Collection[str] | None = None) -> BonusRound:
    """Plan the bonuses recorded on the runs of ``hit_ids`` (or the ``wanted`` ones, e.g.
    from a CSV); with ``approve``, approving what ``approval_plan`` would approves first."""
    if wanted is None:
        found, refused = assignments_of(gateway, hit_ids or [], ("Submitted", "Approved"))
        found = _only(found, assignment_ids)
    else:
        found, refused = look_up(gateway, [w.assignment_id for w in wanted])
        failed = {key for key, _ in refused}
        wanted = [w for w in wanted if w.assignment_id not in failed]
    runs = runs_for(found)
    decisions = tuple(decide_approval(a, runs.get(a.assignment_id)) for a in found)
    approvals = ReviewPlan(APPROVE, tuple(d for d in decisions if approve and d.action == APPROVE))
    plan = bonuses.plan(gateway.target.endpoint,
                        bonuses.from_runs(runs.values()) if wanted is None else wanted,
                        {a.assignment_id: a for a in found}, runs,
                        {d.assignment.assignment_id for d in approvals.chosen})
    return BonusRound(gateway.target.label, plan, approvals, tuple(refused))


@dataclass
class BonusOutcome:
    """What paying did: the approvals first, then each bonus (paid now or already)."""

    approved: ReviewOutcome
    outcomes: Counter[str]
    skipped: int
    failed: list[Failure]

    def lines(self) -> list[str]:
        shown = []
        if self.approved.plan.chosen:
            done = self.approved.done
            shown.append(f"Approved {self.approved.fresh} now, {len(done) - self.approved.fresh}"
                         " were already.")
        shown.append(f"Summary: {self.outcomes[bonuses.PAID]} paid now, "
                     f"{self.outcomes[bonuses.ALREADY]} had been paid already, {self.skipped} "
                     f"skipped, {len(self.approved.failed) + len(self.failed)} failed.")
        return shown

    @property
    def failures(self) -> list[Failure]:
        return [*self.approved.failed, *self.failed]


def pay_round(gateway: Gateway, round_: BonusRound, workers: int,
              progress: Progress = _noop) -> BonusOutcome:
    """Approve first, then pay each bonus whose approval did not fail, once; commits."""
    approved = carry_out_review(gateway, round_.approvals, workers)
    blocked = {key for key, _ in approved.failed}
    to_pay = [b for b in round_.plan.to_pay if b.assignment_id not in blocked]
    done, failed = run_all(to_pay, lambda b: bonuses.pay(gateway, b), workers, progress)
    for bonus, _ in done:
        bonuses.record(gateway.target.endpoint, bonus)
    audit_assignments("pay", [b.assignment_id for b, result in done if result == bonuses.PAID])
    db.session.commit()
    return BonusOutcome(approved, Counter(result for _, result in done),
                        len(round_.plan.skipped), [(b.assignment_id, e) for b, e in failed])


@dataclass
class SyncOutcome:
    """Run changes, runs left alone (why), HITs MTurk refused, exclusion refreshes."""

    hits: int
    synced: SyncResult
    failed: list[Failure]
    refreshed: list[ExclusionResult]

    def lines(self, dry_run: bool = False) -> list[str]:
        shown = [f"  skip {reason}" for reason in self.synced.skipped]
        shown += [f"  skip {reason}" for result in self.refreshed for reason in result.skipped]
        changes = self.synced.changes
        summary = ", ".join(f"{n} {status}" for status, n in sorted(changes.items()))
        synced, change, added = (("Would sync", "would change ", "would be added")
                                 if dry_run else ("Synced", "", "added"))
        shown.append(f"{synced} {self.hits - len(self.failed)} of {self.hits} HIT(s): "
                     f"{change if summary else ''}{summary or 'no changes'}.")
        if self.refreshed:
            shown.append("Exclusion qualifications: "
                         f"{sum(r.granted for r in self.refreshed)} workers {added}.")
        return shown

    @property
    def failures(self) -> list[Failure]:
        return [*self.failed, *(f for r in self.refreshed for f in r.failed)]


def sync_hits(gateway: Gateway, hit_ids: Iterable[str], progress: Progress = _noop,
              dry_run: bool = False) -> SyncOutcome:
    """Copy MTurk's assignment states into our runs, HIT by HIT (each committed; one MTurk
    refuses is reported, not fatal), then refresh the exclusion qualifications. A dry run
    counts the same changes, rolls each back and grants nothing."""
    chosen = list(hit_ids)
    total = SyncResult()
    failed: list[Failure] = []
    for one in chosen:
        try:
            result = sync_hit(gateway, one)
        except MTurkError as error:
            db.session.rollback()
            failed.append((one, error))
            progress()
            continue
        commit_unless(dry_run)
        total.changes.update(result.changes)
        total.skipped.extend(result.skipped)
        progress()
    refreshed = refresh_all(gateway, dry_run)
    commit_unless(dry_run)
    return SyncOutcome(len(chosen), total, failed, refreshed)
