"""The Prolific review page's data and its actions: per study this project created for the
experiment, the submissions (awaiting review first) beside our runs, and the plans of
approve / reject / bonus / sync built and carried out by the same functions as
``flask prolific`` (only the choice of study and submissions comes from the page)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import Run
from ...prolific import ProlificClient, Settings, actions, bonuses, review
from ...prolific.models import ProlificBonus, ProlificStudy
from ...prolific.studies import to_cents
from ...runs import has_complete_data

APPROVE, REJECT, BONUS = "approve", "reject", "bonus"
ALL, SELECTED = "all", "selected"
PROLIFIC_ID = re.compile(r"[A-Za-z0-9]{1,64}")
#: A button's ``do`` value: the action and its scope (everything, the ticked rows, one id).
DO = re.compile(r"(approve|reject|bonus):(all|selected|[A-Za-z0-9]{1,64})")
AMOUNT = re.compile(r"[0-9]{1,4}(\.[0-9]{1,2})?")
Plan = actions.ReviewPlan | actions.BonusRound


class ReviewError(ValueError):
    """A review request that cannot be planned; the message says what to change."""


def console_client(config: Mapping[str, Any]) -> ProlificClient:
    """Prolific as configured (PROLIFIC_API_URL: live, or the simulator for rehearsal)."""
    return ProlificClient(Settings.from_config(config))


@dataclass(frozen=True)
class SubmissionRow:
    """One submission as Prolific reports it, beside our run of it and its bonus."""

    submission: dict[str, Any]
    run: Run | None
    bonus: ProlificBonus | None

    @property
    def id(self) -> str:
        return str(self.submission["id"])

    @property
    def status(self) -> str:
        return str(self.submission.get("status"))

    @property
    def participant_matches(self) -> bool | None:
        """Whether our run's participant is Prolific's (None: no run here)."""
        return None if self.run is None else review.mismatch(self.run, self.submission) is None

    @property
    def problem(self) -> str | None:
        """Why the data here does not back this submission, or None when it does."""
        if self.run is None:
            return "no run here (no data)"
        if mismatch := review.mismatch(self.run, self.submission):
            return mismatch
        if not has_complete_data(self.run):
            return f"incomplete: run is {self.run.status.value}, {self.run.record_count} records"
        return None

    @property
    def bonus_recorded(self) -> str:
        cents = self.run.bonus_cents if self.run is not None else None
        return actions.money(cents) if cents else ""


@dataclass
class StudyReview:
    study_id: str
    round: int
    rows: list[SubmissionRow] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return sum(1 for row in self.rows if row.status == "AWAITING REVIEW")


@dataclass
class ReviewPage:
    label: str
    live: bool
    studies: list[StudyReview] = field(default_factory=list)


def _waiting_first(row: SubmissionRow) -> tuple[int, str]:
    return (0 if row.status == "AWAITING REVIEW" else 1, row.status)


def review_page(client: ProlificClient, slug: str) -> ReviewPage:
    """The experiment's studies on this API, each with its submissions, awaiting review first."""
    page = ReviewPage(actions.where(client), actions.is_live(client))
    rows = db.session.scalars(select(ProlificStudy).where(
        ProlificStudy.api_url == client.url, ProlificStudy.experiment_slug == slug,
        ProlificStudy.study_id.is_not(None)).order_by(ProlificStudy.id))
    for study in rows:
        items = review.submissions(client, str(study.study_id))
        keys = [str(s["id"]) for s in items]
        runs = review.runs_for(keys)
        ledger = bonuses.ledger(client.url, keys)
        found = [SubmissionRow(s, runs.get(str(s["id"])), ledger.get(str(s["id"])))
                 for s in items]
        page.studies.append(StudyReview(str(study.study_id), study.round,
                                        sorted(found, key=_waiting_first)))
    return page


@dataclass(frozen=True)
class ReviewRequest:
    """What a button asks for: an action on one study, on all / ticked / one submission(s)."""

    action: str
    scope: str
    study_id: str
    ticked: tuple[str, ...] = ()
    message: str = ""
    category: str = ""
    amount: str = ""
    reason: str = ""

    @property
    def ids(self) -> tuple[str, ...] | None:
        """The submissions chosen, or None for all of the study's."""
        if self.scope == ALL:
            return None
        return self.ticked if self.scope == SELECTED else (self.scope,)


def parse_request(do: str, study_id: str, ticked: list[str], message: str, category: str,
                  amount: str, reason: str) -> ReviewRequest:
    """Check a button's request; ReviewError says what is wrong."""
    match = DO.fullmatch(do or "")
    if match is None:
        raise ReviewError("Unknown action: use the page's buttons.")
    if not PROLIFIC_ID.fullmatch(study_id or ""):
        raise ReviewError("Choose a study: use the page's buttons.")
    bad = [t for t in ticked if not PROLIFIC_ID.fullmatch(t)]
    if bad:
        raise ReviewError(f"{bad[0][:70]!r} is not a Prolific submission id.")
    request = ReviewRequest(match[1], match[2], study_id, tuple(dict.fromkeys(ticked)),
                            message.strip(), category.strip(), amount.strip(), reason.strip())
    if request.scope == SELECTED and not request.ticked:
        raise ReviewError("Tick at least one submission first.")
    if request.action == REJECT and (problem := actions.check_rejection(request.message,
                                                                        request.category)):
        raise ReviewError(problem)
    if request.action == BONUS and request.amount:
        if request.scope == ALL:
            raise ReviewError("A fixed bonus amount goes to ticked submissions only; leave the "
                              "amount empty to pay the bonuses the runs recorded.")
        if not AMOUNT.fullmatch(request.amount) or to_cents(request.amount) <= 0 \
                or not request.reason:
            raise ReviewError("Give a positive amount like 0.50 and a reason (the participant "
                              "reads it).")
    return request


def build_plan(client: ProlificClient, slug: str, request: ReviewRequest) -> Plan:
    """The plan the CLI would show for the same choice (approve STUDY, reject IDS or
    --no-data STUDY, bonus STUDY or --csv), cut to the chosen submissions."""
    if request.study_id not in actions.experiment_studies(client.url, slug):
        raise ReviewError(f"{request.study_id} is not a Prolific study of this experiment.")
    ids = request.ids
    if ids is not None:
        ours = {str(s["id"]) for s in review.submissions(client, request.study_id)}
        strangers = [one for one in ids if one not in ours]
        if strangers:
            raise ReviewError(f"{strangers[0]} is not a submission of study {request.study_id}.")
    if request.action == APPROVE:
        return actions.approval_plan(client, request.study_id, ids)
    if request.action == REJECT:
        if ids is None:
            return actions.rejection_plan(client, request.message, request.category,
                                          no_data_study=request.study_id)
        return actions.rejection_plan(client, request.message, request.category, ids)
    if request.amount and ids is not None:
        wanted = [bonuses.Wanted(one, to_cents(request.amount), request.reason) for one in ids]
        return actions.bonus_round(client, request.study_id, wanted)
    return actions.bonus_round(client, request.study_id, submission_ids=ids)


def shown_items(plan: Plan) -> list[str]:
    """What the confirmation carries: the ids to act on (a bonus as ``pay:ID=AMOUNT``), so
    only what the researcher saw is done."""
    if isinstance(plan, actions.BonusRound):
        return plan.shown()
    return [d.submission_id for d in plan.chosen]


def confirmed_plan(plan: Plan, shown: list[str]) -> Plan:
    """The plan cut to what the confirmation carried (a bonus only at the amount shown)."""
    return plan.confirmed(set(shown))


def nothing_to_do(plan: Plan) -> bool:
    return not (plan.rows if isinstance(plan, actions.BonusRound) else plan.chosen)


def carry_out(client: ProlificClient, plan: Plan, workers: int) -> tuple[list[str], list[str]]:
    """Do the confirmed plan; (summary lines, failure lines)."""
    if isinstance(plan, actions.BonusRound):
        if not plan.rows:
            db.session.rollback()
            return ["Paid 0: nothing left to pay (see the plan's reasons)."], []
        result = actions.pay_round(client, plan, workers)
        lines = actions.pay_lines(plan.study_id, result)
        return lines[:1], lines[1:]
    return [actions.carry_out_review(client, plan).summary()], []
