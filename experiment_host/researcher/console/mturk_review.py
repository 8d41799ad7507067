"""The MTurk review page's data and its actions: what waits for review with whether its data
is complete, and the plans of approve / reject / bonus built and carried out by the same
functions as ``flask hits`` (only the choice of assignments comes from the page)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import Run
from ...mturk import (
    AssignmentInfo,
    BonusPayment,
    Gateway,
    Wanted,
    actions,
    data_problem,
    from_cents,
    gateway_for,
    parse_money,
    project_hits,
)

APPROVE, REJECT, BONUS = "approve", "reject", "bonus"
ALL, SELECTED = "all", "selected"
ASSIGNMENT_ID = re.compile(r"[A-Z0-9]{1,64}")
#: A button's ``do`` value: the action and its scope (everything, the ticked rows, one id).
DO = re.compile(r"(approve|reject|bonus):(all|selected|[A-Z0-9]{1,64})")
Plan = actions.ReviewPlan | actions.BonusRound


class ReviewError(ValueError):
    """A review request that cannot be planned; the message says what to change."""


def console_gateway(config: Mapping[str, Any]) -> Gateway:
    """MTurk as configured: the sandbox (or MTURK_ENDPOINT_URL) unless MTURK_SANDBOX is
    false, which makes the console work on live MTurk, as ``--live`` does in the CLI."""
    return gateway_for(config, live=not config["MTURK_SANDBOX"])


def experiment_hit_ids(gateway: Gateway, slug: str) -> list[str]:
    """This experiment's HITs on the gateway's endpoint, oldest first."""
    return [row.hit_id for row in project_hits(gateway.target) if row.experiment_slug == slug]


@dataclass(frozen=True)
class Submission:
    """One assignment as MTurk reports it, beside our run of it."""

    assignment: AssignmentInfo
    run: Run | None
    problem: str | None
    bonus_paid: Decimal | None

    @property
    def complete(self) -> bool:
        return self.problem is None

    @property
    def bonus_recorded(self) -> Decimal | None:
        cents = self.run.bonus_cents if self.run is not None else None
        return from_cents(cents) if cents else None


@dataclass
class ReviewPage:
    """Everything the review page shows."""

    label: str
    live: bool
    hit_ids: list[str]
    waiting: list[Submission] = field(default_factory=list)
    reviewed: list[Submission] = field(default_factory=list)


def review_page(gateway: Gateway, slug: str) -> ReviewPage:
    """The experiment's assignments: those waiting for review, then those reviewed."""
    hit_ids = experiment_hit_ids(gateway, slug)
    page = ReviewPage(gateway.target.label, gateway.target.live, hit_ids)
    found: list[AssignmentInfo] = []
    for hit_id in hit_ids:
        found.extend(gateway.assignments(hit_id))
    keys = [a.assignment_id for a in found]
    runs = {r.session_key: r for r in db.session.scalars(
        select(Run).where(Run.session_key.in_(keys), Run.experiment_slug == slug))}
    paid: dict[str, int] = {key: cents for key, cents in db.session.execute(
        select(BonusPayment.assignment_id, BonusPayment.amount_cents).where(
            BonusPayment.endpoint == gateway.target.endpoint,
            BonusPayment.assignment_id.in_(keys)))}
    for assignment in sorted(found, key=lambda a: (a.submitted_at is None, a.submitted_at)):
        run = runs.get(assignment.assignment_id)
        cents = paid.get(assignment.assignment_id)
        row = Submission(assignment, run, data_problem(assignment, run),
                         from_cents(cents) if cents is not None else None)
        (page.waiting if assignment.status == "Submitted" else page.reviewed).append(row)
    return page


@dataclass(frozen=True)
class ReviewRequest:
    """What a button asks for: an action, on all / ticked / one assignment(s)."""

    action: str
    scope: str
    ticked: tuple[str, ...] = ()
    message: str = ""
    amount: str = ""
    reason: str = ""
    approve_first: bool = False

    @property
    def ids(self) -> tuple[str, ...] | None:
        """The assignments chosen, or None for all of the experiment's."""
        if self.scope == ALL:
            return None
        return self.ticked if self.scope == SELECTED else (self.scope,)


def parse_request(do: str, ticked: list[str], message: str, amount: str, reason: str,
                  approve_first: bool) -> ReviewRequest:
    """Check a button's request; ReviewError says what is wrong."""
    match = DO.fullmatch(do or "")
    if match is None:
        raise ReviewError("Unknown action: use the page's buttons.")
    bad = [t for t in ticked if not ASSIGNMENT_ID.fullmatch(t)]
    if bad:
        raise ReviewError(f"{bad[0][:70]!r} is not an MTurk assignment id.")
    request = ReviewRequest(match[1], match[2], tuple(dict.fromkeys(ticked)), message.strip(),
                            amount.strip(), reason.strip(), approve_first)
    if request.scope == SELECTED and not request.ticked:
        raise ReviewError("Tick at least one assignment first.")
    if request.action == REJECT and not request.message:
        raise ReviewError("A rejection needs a message: the worker reads why.")
    if request.action == BONUS and request.amount:
        _check_amount(request)
    return request


def _check_amount(request: ReviewRequest) -> None:
    if request.scope == ALL:
        raise ReviewError("A fixed bonus amount goes to ticked assignments only; leave the "
                          "amount empty to pay the bonuses the runs recorded.")
    try:
        amount = parse_money(request.amount)
    except ValueError as error:
        raise ReviewError(str(error)) from error
    if amount <= 0 or not request.reason:
        raise ReviewError("Give a positive amount and a reason (the worker reads it).")


def build_plan(gateway: Gateway, slug: str, request: ReviewRequest) -> Plan:
    """The plan the CLI would show for the same choice (approve HIT/--all, reject IDS or
    --no-data, bonus HIT/--all/--csv), cut to the experiment's assignments."""
    hit_ids = experiment_hit_ids(gateway, slug)
    ids = request.ids
    if ids is not None:
        _check_ours(gateway, hit_ids, ids)
    if request.action == APPROVE:
        return actions.approval_plan(gateway, hit_ids, ids)
    if request.action == REJECT:
        if ids is None:
            return actions.rejection_plan(gateway, request.message, hit_ids=hit_ids)
        return actions.rejection_plan(gateway, request.message, ids)
    if request.amount and ids is not None:
        amount = parse_money(request.amount)
        wanted = [Wanted(one, amount, request.reason) for one in ids]
        return actions.bonus_round(gateway, wanted=wanted, approve=request.approve_first)
    return actions.bonus_round(gateway, hit_ids, approve=request.approve_first,
                               assignment_ids=ids)


def _check_ours(gateway: Gateway, hit_ids: list[str], ids: tuple[str, ...]) -> None:
    """Refuse assignments that are not of this experiment's HITs (a page from elsewhere)."""
    ours = {a.assignment_id for hit_id in hit_ids for a in gateway.assignments(hit_id)}
    strangers = [one for one in ids if one not in ours]
    if strangers:
        raise ReviewError(f"{strangers[0]} is not an assignment of this experiment's HITs.")


def shown_items(plan: Plan) -> list[str]:
    """What the confirmation carries: the ids to act on (a bonus as ``pay:ID=AMOUNT``, an
    approval before it as ``approve:ID``), so only what the researcher saw is done."""
    if isinstance(plan, actions.BonusRound):
        return ([f"approve:{d.assignment.assignment_id}" for d in plan.approvals.chosen]
                + [f"pay:{b.assignment_id}={b.amount:.2f}" for b in plan.plan.to_pay])
    return [d.assignment.assignment_id for d in plan.chosen]


def confirmed_plan(plan: Plan, shown: list[str]) -> Plan:
    """The plan cut to what the confirmation carried (a bonus only at the amount shown)."""
    if isinstance(plan, actions.ReviewPlan):
        return plan.confirmed(set(shown))
    approve = {item.removeprefix("approve:") for item in shown if item.startswith("approve:")}
    pay = {b.assignment_id for b in plan.plan.to_pay
           if f"pay:{b.assignment_id}={b.amount:.2f}" in shown}
    return plan.confirmed(approve, pay)


def nothing_to_do(plan: Plan) -> bool:
    return plan.empty if isinstance(plan, actions.BonusRound) else not plan.chosen


def carry_out(gateway: Gateway, plan: Plan, workers: int) -> tuple[list[str], list[str]]:
    """Do the confirmed plan; (summary lines, failure lines)."""
    if isinstance(plan, actions.BonusRound):
        outcome = actions.pay_round(gateway, plan, workers)
        lines, failures = outcome.lines(), [*plan.refused, *outcome.failures]
    else:
        review = actions.carry_out_review(gateway, plan, workers)
        lines, failures = [review.summary()], review.failures
    return lines, [f"failed {key}: {error}" for key, error in failures]
