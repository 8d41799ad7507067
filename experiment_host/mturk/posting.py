"""Plan and post an experiment's HITs (settings, cost, the Hit rows), with deterministic
tokens so a retried or re-run ``create`` never posts a HIT twice."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..experiments import Experiment, HitSettings
from ..extensions import db
from .fees import Batch, CostPlan, cents, money_text, plan_cost
from .gateway import Gateway, HitInfo, Target
from .models import Hit
from .question import experiment_url, external_question

LOCALE_QUALIFICATION = "00000000000000000071"
APPROVAL_RATE_QUALIFICATION = "000000000000000000L0"
APPROVED_HITS_QUALIFICATION = "00000000000000000040"
ADULT_QUALIFICATION = "00000000000000000060"


@dataclass(frozen=True)
class HitOptions:
    """What a HIT is posted with: the experiment's settings, possibly overridden."""

    title: str
    description: str
    reward: Decimal
    assignments: int
    lifetime_hours: float
    duration_minutes: float
    auto_approve_hours: float
    keywords: tuple[str, ...]
    frame_height: int


@dataclass(frozen=True)
class CreatePlan:
    """Everything ``flask hits create`` will do, shown before it is done."""

    experiment: Experiment
    target: Target
    url: str
    options: HitOptions
    cost: CostPlan
    round: int
    exclusion: bool
    balance: Decimal
    existing: dict[int, Hit] = field(default_factory=dict)

    @property
    def to_post(self) -> tuple[Batch, ...]:
        return tuple(b for b in self.cost.batches if b.index not in self.existing)

    @property
    def remaining_cost(self) -> CostPlan:
        """The cost of the batches not posted yet."""
        return CostPlan(self.cost.reward, self.to_post)


def default_options(experiment: Experiment) -> HitOptions:
    """The HIT options from the experiment's ``[hit]`` settings."""
    hit: HitSettings = experiment.config.hit
    return HitOptions(
        title=experiment.config.title, description=experiment.config.description,
        reward=hit.reward_decimal, assignments=hit.assignments,
        lifetime_hours=hit.lifetime_hours, duration_minutes=hit.assignment_duration_minutes,
        auto_approve_hours=hit.auto_approval_delay_hours, keywords=hit.keywords,
        frame_height=hit.frame_height,
    )


def with_overrides(options: HitOptions, **overrides: Any) -> HitOptions:
    """The options with every override that is not None applied."""
    return replace(options, **{k: v for k, v in overrides.items() if v is not None})


def request_token(target: Target, slug: str, round_: int, batch: int) -> str:
    """The deterministic UniqueRequestToken of one HIT (≤ 64 chars)."""
    digest = hashlib.sha256(f"{target.endpoint}|{slug}|{round_}|{batch}".encode()).hexdigest()
    return f"eh-hit-{digest[:48]}"


def existing_hits(target: Target, slug: str, round_: int) -> dict[int, Hit]:
    """HITs already posted for this experiment and round, by batch index."""
    rows = db.session.scalars(select(Hit).where(
        Hit.endpoint == target.endpoint, Hit.experiment_slug == slug, Hit.round == round_))
    return {row.batch_index: row for row in rows}


def make_plan(experiment: Experiment, target: Target, public_url: str, options: HitOptions,
              batched: bool, round_: int, exclusion: bool, balance: Decimal) -> CreatePlan:
    """Check the URL and options and work out the batches and their cost."""
    url = experiment_url(public_url, experiment.slug, target.local)
    external_question(url, options.frame_height, target.local)
    cost = plan_cost(options.reward, options.assignments, batched)
    return CreatePlan(experiment, target, url, options, cost, round_, exclusion or batched,
                      balance, existing_hits(target, experiment.slug, round_))


def qualification_requirements(experiment: Experiment,
                               exclusion_type_id: str | None) -> list[dict[str, Any]]:
    """MTurk requirements from the experiment's ``[hit.qualifications]`` and the exclusion."""
    wanted = experiment.config.hit.qualifications
    found: list[dict[str, Any]] = []
    if wanted.min_approval_rate is not None:
        found.append(_at_least(APPROVAL_RATE_QUALIFICATION, wanted.min_approval_rate))
    if wanted.min_approved_hits is not None:
        found.append(_at_least(APPROVED_HITS_QUALIFICATION, wanted.min_approved_hits))
    if wanted.locales:
        found.append({"QualificationTypeId": LOCALE_QUALIFICATION, "Comparator": "In",
                      "LocaleValues": [{"Country": c} for c in wanted.locales],
                      "ActionsGuarded": "DiscoverPreviewAndAccept"})
    if wanted.adult:
        found.append(_at_least(ADULT_QUALIFICATION, 1, comparator="EqualTo"))
    if exclusion_type_id:
        found.append({"QualificationTypeId": exclusion_type_id, "Comparator": "DoesNotExist",
                      "ActionsGuarded": "DiscoverPreviewAndAccept"})
    return found


def _at_least(type_id: str, value: int, comparator: str = "GreaterThanOrEqualTo"
              ) -> dict[str, Any]:
    return {"QualificationTypeId": type_id, "Comparator": comparator, "IntegerValues": [value],
            "ActionsGuarded": "DiscoverPreviewAndAccept"}


def hit_params(plan: CreatePlan, batch: Batch, requirements: list[dict[str, Any]],
               token: str) -> dict[str, Any]:
    """The ``create_hit`` arguments of one batch (without the token)."""
    options = plan.options
    params: dict[str, Any] = {
        "Title": options.title, "Description": options.description,
        "Reward": money_text(options.reward), "MaxAssignments": batch.assignments,
        "LifetimeInSeconds": int(options.lifetime_hours * 3600),
        "AssignmentDurationInSeconds": int(options.duration_minutes * 60),
        "AutoApprovalDelayInSeconds": int(options.auto_approve_hours * 3600),
        "Question": external_question(plan.url, options.frame_height, plan.target.local),
        "RequesterAnnotation": f"experiment_host:{plan.experiment.slug}:{token}",
        "QualificationRequirements": requirements,
    }
    if options.keywords:
        params["Keywords"] = ", ".join(options.keywords)
    return params


def post_batch(gateway: Gateway, plan: CreatePlan, batch: Batch,
               requirements: list[dict[str, Any]]) -> tuple[Hit, bool]:
    """Create one batch's HIT (once per token) and record it; the caller commits."""
    slug = plan.experiment.slug
    token = request_token(plan.target, slug, plan.round, batch.index)
    info, created = gateway.create_hit(hit_params(plan, batch, requirements, token), token)
    row = _record(plan, batch, token, info)
    return row, created


def _record(plan: CreatePlan, batch: Batch, token: str, info: HitInfo) -> Hit:
    row = Hit(
        endpoint=plan.target.endpoint, sandbox=not plan.target.live, hit_id=info.hit_id,
        hit_group_id=info.group_id, experiment_slug=plan.experiment.slug, round=plan.round,
        batch_index=batch.index, batch_count=len(plan.cost.batches), request_token=token,
        max_assignments=info.max_assignments, reward_cents=cents(info.reward),
        expires_at=info.expiration,
    )
    db.session.add(row)
    db.session.flush()
    return row


def project_hits(target: Target, hit_id: str | None = None) -> list[Hit]:
    """This project's HITs on the target (or the one named), oldest first."""
    query = select(Hit).where(Hit.endpoint == target.endpoint, Hit.deleted_at.is_(None))
    if hit_id:
        query = query.where(Hit.hit_id == hit_id)
    return list(db.session.scalars(query.order_by(Hit.created_at, Hit.id)))
