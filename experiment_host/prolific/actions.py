"""Approve, reject, bonus and sync as plain functions: build the plan (what will happen, what
it costs, what is skipped and why), then carry it out. ``flask prolific`` and the study
console are two faces of these functions, so both show the same plan and do the same thing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..audit import audit
from ..dry_run import commit_unless
from ..extensions import db
from ..models import Platform, Run
from . import bonuses, review
from .client import ProlificClient, ProlificError
from .models import ProlificBonus, ProlificStudy

LIVE_URL = "https://api.prolific.com/api/v1"
MIN_REJECTION_MESSAGE = 100
NOT_CONFIRMED = "not among the submissions confirmed"
#: Called with how many items were just done (the CLI moves its progress bar).
Tick = Callable[[int], None]


def _no_tick(_: int) -> None:
    return None


def is_live(client: ProlificClient) -> bool:
    return client.url.rstrip("/") == LIVE_URL


def where(client: ProlificClient) -> str:
    return "LIVE Prolific" if is_live(client) else f"the Prolific at {client.url} (rehearsal)"


def money(cents: int) -> str:
    return f"{cents / 100:.2f}"


class BonusBusy(ProlificError):
    """Another request is planning or paying the same bonuses right now."""


def audit_submissions(action: str, api_url: str, study_id: str, count: int) -> None:
    """Log ``action`` on the experiment of the study: how many submissions, not whose."""
    if count <= 0:
        return
    slug = db.session.scalar(select(ProlificStudy.experiment_slug).where(
        ProlificStudy.api_url == api_url, ProlificStudy.study_id == study_id))
    if slug is None:  # a study made elsewhere: name it by our runs of it
        slug = db.session.scalar(select(Run.experiment_slug).where(
            Run.platform == Platform.PROLIFIC, Run.study_key == study_id).limit(1))
    audit(action, slug, f"{count} submission(s) of Prolific study {study_id}")


@dataclass(frozen=True)
class ReviewPlan:
    """What approving or rejecting will do, decided submission by submission."""

    action: str
    label: str
    decisions: tuple[review.Decision, ...]
    #: The skipped decisions worth listing (e.g. not those already reviewed, for approve).
    listed: tuple[review.Decision, ...] = ()
    study_id: str = ""
    message: str = ""
    category: str = ""

    @property
    def chosen(self) -> list[review.Decision]:
        return [d for d in self.decisions if d.action == self.action]

    @property
    def skipped(self) -> list[review.Decision]:
        return [d for d in self.decisions if d.action != self.action]

    def lines(self) -> list[str]:
        """The plan as the CLI prints it and the console shows it."""
        shown = [f"  skip {d.submission_id} ({d.submission.get('participant_id')}): {d.reason}"
                 for d in self.listed]
        if self.action == review.APPROVE:
            return [*shown, f"Study {self.study_id}: {len(self.chosen)} submission(s) to "
                            f"approve on {self.label}."]
        shown += [f"  reject {d.submission_id} ({d.submission.get('participant_id')}): "
                  f"{d.reason}" for d in self.chosen]
        return [*shown, f"{len(self.chosen)} submission(s) to reject ({self.category}) on "
                        f"{self.label}."]

    def confirmed(self, submission_ids: Collection[str]) -> ReviewPlan:
        """Only what was shown and confirmed is done; the rest is skipped."""
        decisions = tuple(
            d if d.action != self.action or d.submission_id in submission_ids
            else review.Decision(d.submission, review.SKIP, NOT_CONFIRMED)
            for d in self.decisions)
        return replace(self, decisions=decisions)


def _only(items: list[dict[str, Any]], ids: Collection[str] | None) -> list[dict[str, Any]]:
    return items if ids is None else [s for s in items if str(s["id"]) in ids]


def approval_plan(client: ProlificClient, study_id: str,
                  submission_ids: Collection[str] | None = None) -> ReviewPlan:
    """Approve the study's awaiting-review submissions whose run here (same participant)
    completed with its data (all of them, or only ``submission_ids``)."""
    items = _only(review.submissions(client, study_id), submission_ids)
    runs = review.runs_for(str(s["id"]) for s in items)
    decisions = tuple(review.decide_approval(s, runs.get(str(s["id"]))) for s in items)
    listed = tuple(d for d in decisions if d.action != review.APPROVE
                   and d.submission.get("status") == "AWAITING REVIEW")
    return ReviewPlan(review.APPROVE, where(client), decisions, listed, study_id)


def check_rejection(message: str, category: str) -> str | None:
    """What is wrong with a rejection's message or category, as Prolific requires them."""
    if len(message.strip()) < MIN_REJECTION_MESSAGE:
        return (f"Prolific needs at least {MIN_REJECTION_MESSAGE} characters explaining the "
                "rejection.")
    if category not in review.REJECTION_CATEGORIES:
        return f"Choose a rejection category: {', '.join(review.REJECTION_CATEGORIES)}."
    return None


def rejection_plan(client: ProlificClient, message: str, category: str,
                   submission_ids: Collection[str] = (), no_data_study: str | None = None
                   ) -> ReviewPlan:
    """Reject the submissions named, or (``no_data_study``) the study's awaiting-review
    submissions with no run or no records; ``message`` is what the participant reads."""
    if no_data_study:
        items = review.submissions(client, no_data_study)
    else:
        items = [client.get(f"submissions/{sid}/", what=f"reading submission {sid}")
                 for sid in submission_ids]
    runs = review.runs_for(str(s["id"]) for s in items)
    decisions = tuple(review.decide_rejection(s, runs.get(str(s["id"])), bool(no_data_study))
                      for s in items)
    listed = tuple(d for d in decisions if d.action != review.REJECT and
                   (not no_data_study or d.submission.get("status") == "AWAITING REVIEW"))
    return ReviewPlan(review.REJECT, where(client), decisions, listed, no_data_study or "",
                      message.strip(), category)


@dataclass
class ReviewOutcome:
    plan: ReviewPlan
    done: int = 0

    def summary(self) -> str:
        verb = "Approved" if self.plan.action == review.APPROVE else "Rejected"
        return f"{verb} {self.done}."


def carry_out_review(client: ProlificClient, plan: ReviewPlan, tick: Tick = _no_tick
                     ) -> ReviewOutcome:
    """Approve (in bulk) or reject the plan's chosen submissions, record their status and
    mark their runs; commits. Repeating it is harmless: Prolific ignores a repeat."""
    chosen = plan.chosen
    if plan.action == review.APPROVE:
        ids = [d.submission_id for d in chosen]
        for start in range(0, len(ids), review.BULK_APPROVE_SIZE):
            batch = ids[start:start + review.BULK_APPROVE_SIZE]
            review.bulk_approve(client, batch)
            tick(len(batch))
        review.remember(client.url, plan.study_id, [d.submission for d in chosen], "APPROVED")
        review.sync_runs([{**d.submission, "status": "APPROVED"} for d in chosen])
        audit_submissions("approve", client.url, plan.study_id, len(chosen))
        db.session.commit()
        return ReviewOutcome(plan, len(chosen))
    for decision in chosen:
        study_id = str(decision.submission.get("study_id", ""))
        review.reject(client, decision.submission_id, plan.message, plan.category)
        review.remember(client.url, study_id, [decision.submission], "REJECTED")
        audit_submissions("reject", client.url, study_id, 1)
        db.session.commit()
        tick(1)
    review.sync_runs([{**d.submission, "status": "REJECTED"} for d in chosen])
    db.session.commit()
    return ReviewOutcome(plan, len(chosen))


@dataclass
class BonusRound:
    """Bonuses to pay (ledger rows, new ones PLANNED and uncommitted) and what is skipped."""

    label: str
    study_id: str
    rows: list[ProlificBonus]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(row.amount_cents for row in self.rows)

    def lines(self) -> list[str]:
        """The plan as the CLI prints it and the console shows it."""
        shown = [f"  skip {key}: {reason}" for key, reason in self.skipped]
        shown += [f"  pay {money(row.amount_cents)} on {row.submission_id} "
                  f"({row.participant_id}): {row.reason}" for row in self.rows]
        return [*shown, f"Study {self.study_id}: {len(self.rows)} bonus(es) to pay, "
                        f"{money(self.total_cents)} (+ Prolific's fee) on {self.label}."]

    def confirmed(self, shown: Collection[str]) -> BonusRound:
        """Only the bonuses shown (``pay:ID=AMOUNT``) and confirmed are paid; a new ledger
        row that was not confirmed leaves the session, so it is never committed."""
        kept, dropped = [], []
        for row in self.rows:
            if f"pay:{row.submission_id}={money(row.amount_cents)}" in shown:
                kept.append(row)
            else:
                dropped.append((row.submission_id, NOT_CONFIRMED))
                if row.id is None:
                    db.session.expunge(row)
        return replace(self, rows=kept, skipped=[*self.skipped, *dropped])

    def shown(self) -> list[str]:
        return [f"pay:{row.submission_id}={money(row.amount_cents)}" for row in self.rows]


def bonus_round(client: ProlificClient, study_id: str,
                wanted: list[bonuses.Wanted] | None = None,
                submission_ids: Collection[str] | None = None) -> BonusRound:
    """Plan the bonuses recorded on the runs of the study's submissions (all, or only
    ``submission_ids``), or the ``wanted`` ones (e.g. from a CSV). The caller commits (to
    pay) or rolls back (only showing the plan)."""
    items = {str(s["id"]): s for s in review.submissions(client, study_id)}
    runs = review.runs_for(items)
    unrecorded: list[tuple[str, str]] = []
    if wanted is None:
        chosen = runs.values() if submission_ids is None else \
            [run for key, run in runs.items() if key in submission_ids]
        wanted = bonuses.from_runs(chosen)
        if submission_ids is not None:
            named = {w.submission_id for w in wanted}
            unrecorded = [(key, "no bonus recorded on its run; give an amount")
                          for key in submission_ids if key not in named]
    rows, skipped = bonuses.plan(client.url, study_id, wanted, items, runs)
    return BonusRound(where(client), study_id, rows, [*unrecorded, *skipped])


def pay_round(client: ProlificClient, round_: BonusRound, workers: int,
              tick: Tick = _no_tick) -> bonuses.PayResult:
    """Commit the plan's ledger rows, then set up and pay them (each at most once, even when
    two requests pay the same round at the same time); audits what was paid."""
    try:
        db.session.commit()  # the ledger holds them before any call
    except IntegrityError as error:
        db.session.rollback()
        raise BonusBusy("Another request is paying these bonuses right now; look again in a "
                        "moment (nothing was paid twice).") from error
    result = bonuses.pay(client, round_.study_id, round_.rows, workers, tick)
    audit_submissions("pay", client.url, round_.study_id, result.paid)
    db.session.commit()
    return result


def pay_lines(study_id: str, result: bonuses.PayResult) -> list[str]:
    lines = [f"Paid {result.paid}; unknown {result.unknown}; failed "
             f"{len(result.failed or [])}."]
    lines += [f"  failed {line}" for line in result.failed or []]
    if result.unknown:
        lines.append(f"  {result.unknown} pay call(s) got no answer: they are NOT paid again. "
                     f"Settle them with `flask prolific bonus-resolve {study_id}`.")
    return lines


def sync_study(client: ProlificClient, study_id: str, dry_run: bool = False
               ) -> review.SyncResult:
    """Copy Prolific's submission statuses of one study into the runs; commits (a dry run
    rolls back)."""
    items = review.submissions(client, study_id)
    review.remember(client.url, study_id, items)
    result = review.sync_runs(items)
    commit_unless(dry_run)
    return result


def sync_lines(study_id: str, result: review.SyncResult, dry_run: bool = False) -> list[str]:
    changes = ", ".join(f"{n} {s}" for s, n in sorted(result.changes.items())) or "no change"
    head = "would change " if dry_run and result.changes else ""
    return [f"Study {study_id}: {head}{changes}.",
            *(f"  skip {line}" for line in result.skipped)]


def experiment_studies(api_url: str, slug: str) -> list[str]:
    """The ids of the studies this project created for ``slug`` on this API, oldest first."""
    rows: Iterable[ProlificStudy] = db.session.scalars(select(ProlificStudy).where(
        ProlificStudy.api_url == api_url, ProlificStudy.experiment_slug == slug,
        ProlificStudy.study_id.is_not(None)).order_by(ProlificStudy.id))
    return [str(row.study_id) for row in rows]
