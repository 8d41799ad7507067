"""Keep earlier participants out: a qualification type given to everyone who took part.

New HITs require it with ``DoesNotExist``, so MTurk hides them from those workers. Workers
are associated without a notification; ``flask hits sync`` adds those who took part since.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..experiments import Experiment, registry
from ..extensions import db
from ..models import Platform, Run
from .gateway import Gateway
from .models import ExclusionQualification, Hit


@dataclass(frozen=True)
class ExclusionResult:
    qualification_type_id: str
    granted: int
    already: int


def related_slugs(experiment: Experiment) -> list[str]:
    """The experiment and those its ``exclude_experiments`` names."""
    return [experiment.slug, *experiment.config.hit.qualifications.exclude_experiments]


def participants(gateway: Gateway, slugs: list[str]) -> set[str]:
    """MTurk workers who took part in these experiments: our runs and our HITs' assignments."""
    workers = set(db.session.scalars(select(Run.worker_id).where(
        Run.platform == Platform.MTURK, Run.experiment_slug.in_(slugs))))
    hit_ids = db.session.scalars(select(Hit.hit_id).where(
        Hit.endpoint == gateway.target.endpoint, Hit.experiment_slug.in_(slugs),
        Hit.deleted_at.is_(None)))
    for hit_id in hit_ids:
        workers.update(a.worker_id for a in gateway.assignments(hit_id))
    return workers


def qualification_for(gateway: Gateway, slug: str) -> str:
    """The exclusion qualification type id of ``slug`` on this endpoint, created if needed."""
    row = db.session.scalars(select(ExclusionQualification).where(
        ExclusionQualification.endpoint == gateway.target.endpoint,
        ExclusionQualification.experiment_slug == slug)).one_or_none()
    if row is not None:
        return row.qualification_type_id
    type_id = gateway.create_qualification_type(
        f"experiment_host: took part in {slug}",
        f"Workers who already took part in the study '{slug}' or a related one; they "
        "cannot take part again.")
    db.session.add(ExclusionQualification(endpoint=gateway.target.endpoint,
                                          experiment_slug=slug, qualification_type_id=type_id))
    db.session.flush()
    return type_id


def exclude_previous(gateway: Gateway, experiment: Experiment) -> ExclusionResult:
    """Give the exclusion qualification to everyone who took part; the caller commits."""
    type_id = qualification_for(gateway, experiment.slug)
    have = gateway.qualified_workers(type_id)
    missing = sorted(participants(gateway, related_slugs(experiment)) - have)
    for worker_id in missing:
        gateway.grant(type_id, worker_id)
    return ExclusionResult(type_id, len(missing), len(have))


def refresh_all(gateway: Gateway) -> list[ExclusionResult]:
    """Bring every exclusion qualification on this endpoint up to date."""
    rows = db.session.scalars(select(ExclusionQualification).where(
        ExclusionQualification.endpoint == gateway.target.endpoint)).all()
    experiments = registry()
    return [exclude_previous(gateway, experiments[row.experiment_slug])
            for row in rows if row.experiment_slug in experiments]
