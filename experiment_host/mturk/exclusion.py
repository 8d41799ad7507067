"""Keep earlier participants out of new HITs: a qualification type given to everyone who
took part, which new HITs require with ``DoesNotExist`` so MTurk hides them from those
workers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from ..experiments import Experiment, registry
from ..extensions import db
from ..models import Platform, Run
from .errors import MTurkError
from .gateway import Gateway
from .models import ExclusionQualification, Hit
from .review import Failure, assignments_of, same_worker


@dataclass
class Participants:
    """Workers who took part, runs left out (with the reason), and what MTurk refused."""

    workers: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class ExclusionResult:
    qualification_type_id: str
    granted: int
    already: int
    skipped: list[str]
    failed: list[Failure]


def related_slugs(experiment: Experiment) -> list[str]:
    """The experiment and those its ``exclude_experiments`` names."""
    return [experiment.slug, *experiment.config.hit.qualifications.exclude_experiments]


def participants(gateway: Gateway, slugs: list[str]) -> Participants:
    """MTurk workers who took part in these experiments: our HITs' assignments, and our runs
    whose worker MTurk does not contradict (MTurk's ids are uppercase)."""
    hit_ids = list(db.session.scalars(select(Hit.hit_id).where(
        Hit.endpoint == gateway.target.endpoint, Hit.experiment_slug.in_(slugs),
        Hit.deleted_at.is_(None))))
    assignments, failed = assignments_of(gateway, hit_ids)
    reported = {a.assignment_id: a.worker_id for a in assignments}
    found = Participants(set(reported.values()), [], failed)
    runs = db.session.execute(select(Run.session_key, Run.worker_id).where(
        Run.platform == Platform.MTURK, Run.experiment_slug.in_(slugs)))
    for assignment_id, worker_id in runs:
        mturk_worker = reported.get(assignment_id)
        if mturk_worker is None:
            found.workers.add(worker_id.strip().upper())
        elif not same_worker(worker_id, mturk_worker):
            found.skipped.append(f"{worker_id} (assignment {assignment_id}): worker id "
                                 f"mismatch, MTurk reports {mturk_worker}; not marked")
    return found


def qualification_for(gateway: Gateway, slug: str, dry_run: bool = False) -> str | None:
    """The exclusion qualification type id of ``slug`` on this endpoint, created if needed
    (on a dry run, None instead of creating it)."""
    row = db.session.scalars(select(ExclusionQualification).where(
        ExclusionQualification.endpoint == gateway.target.endpoint,
        ExclusionQualification.experiment_slug == slug)).one_or_none()
    if row is not None:
        return row.qualification_type_id
    if dry_run:
        return None
    type_id = gateway.create_qualification_type(
        f"experiment_host: took part in {slug}",
        f"Workers who already took part in the study '{slug}' or a related one; they "
        "cannot take part again.")
    db.session.add(ExclusionQualification(endpoint=gateway.target.endpoint,
                                          experiment_slug=slug, qualification_type_id=type_id))
    db.session.flush()
    return type_id


# Workers are associated without a notification; ``flask hits sync`` adds those who took
# part since. A run whose assignment MTurk reports for another worker does not mark the
# run's worker (the id came from a browser); MTurk's worker is marked. A HIT or worker
# MTurk refuses is reported and the others are still done.
def exclude_previous(gateway: Gateway, experiment: Experiment, dry_run: bool = False
                     ) -> ExclusionResult:
    """Give the exclusion qualification to everyone who took part; the caller commits. A
    dry run only reads: ``granted`` counts whom it would grant."""
    type_id = qualification_for(gateway, experiment.slug, dry_run)
    have = gateway.qualified_workers(type_id) if type_id else set()
    found = participants(gateway, related_slugs(experiment))
    granted = 0
    for worker_id in sorted(found.workers - have):
        if dry_run or type_id is None:
            granted += 1
            continue
        try:
            gateway.grant(type_id, worker_id)
        except MTurkError as error:
            found.failed.append((worker_id, error))
        else:
            granted += 1
    return ExclusionResult(type_id or "(new)", granted, len(have), found.skipped, found.failed)


def refresh_all(gateway: Gateway, dry_run: bool = False) -> list[ExclusionResult]:
    """Bring every exclusion qualification on this endpoint up to date; a qualification
    type that MTurk refuses to list is a failure of its own result."""
    rows = db.session.scalars(select(ExclusionQualification).where(
        ExclusionQualification.endpoint == gateway.target.endpoint)).all()
    experiments = registry()
    results = []
    for row in rows:
        if row.experiment_slug not in experiments:
            continue
        try:
            results.append(exclude_previous(gateway, experiments[row.experiment_slug], dry_run))
        except MTurkError as error:
            results.append(ExclusionResult(row.qualification_type_id, 0, 0, [],
                                           [(row.qualification_type_id, error)]))
    return results
