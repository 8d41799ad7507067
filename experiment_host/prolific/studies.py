"""Studies: the draft study an experiment's ``[prolific]`` settings describe, created once
(recorded here before Prolific is asked, and found again by its internal name after a lost
answer), and the transitions and place changes the commands make."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select

from ..experiments import Experiment
from ..extensions import db
from .client import ProlificClient, ProlificError
from .models import ProlificStudy

#: Command word → Prolific's study transition action.
TRANSITIONS = {"publish": "PUBLISH", "pause": "PAUSE", "resume": "START", "stop": "STOP"}
#: The study status each transition action leads to.
TARGETS = {"PUBLISH": "ACTIVE", "PAUSE": "PAUSED", "START": "ACTIVE", "STOP": "COMPLETED"}
PLACEHOLDERS = "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"


def to_cents(money: str | Decimal) -> int:
    return int((Decimal(money) * 100).to_integral_value())


def study_url(public_url: str, slug: str) -> str:
    """The external study URL; Prolific fills the three placeholders per participant."""
    return f"{public_url.rstrip('/')}/exp/{slug}?{PLACEHOLDERS}"


def study_body(experiment: Experiment, public_url: str, internal_name: str,
               places: int | None = None) -> dict[str, Any]:
    """The body of Prolific's "create a draft study" for this experiment."""
    settings = experiment.config.prolific
    estimated = settings.estimated_minutes or math.ceil(experiment.config.duration_minutes)
    filters = [f.model_dump(exclude_none=True) for f in settings.filters]
    if settings.min_approval_rate is not None:
        filters.append({"filter_id": "approval_rate",
                        "selected_range": {"lower": settings.min_approval_rate, "upper": 100}})
    return {
        "name": settings.name or experiment.title,
        "internal_name": internal_name,
        "description": settings.description or experiment.config.description,
        "external_study_url": study_url(public_url, experiment.slug),
        "prolific_id_option": "url_parameters",
        "completion_codes": [code.to_api() for code in settings.completion_codes],
        "total_available_places": places or settings.places,
        "estimated_completion_time": estimated,
        "maximum_allowed_time": settings.max_minutes or max(3 * estimated, estimated + 10),
        "reward": to_cents(settings.reward),
        "device_compatibility": list(settings.devices),
        "filters": filters,
    }


def internal_name(slug: str, round_: int) -> str:
    """Our key for a study: the same experiment and round always names the same study."""
    return f"experiment_host:{slug}:round-{round_}"


def recorded(api_url: str, slug: str | None = None) -> list[ProlificStudy]:
    """Studies this project created on this API (of one experiment, if given)."""
    query = select(ProlificStudy).where(ProlificStudy.api_url == api_url)
    if slug:
        query = query.where(ProlificStudy.experiment_slug == slug)
    return list(db.session.scalars(query.order_by(ProlificStudy.id)))


def find_by_internal_name(client: ProlificClient, name: str) -> dict[str, Any] | None:
    for study in client.pages("studies/", what="listing your studies"):
        if study.get("internal_name") == name:
            return study
    return None


@dataclass(frozen=True)
class Created:
    row: ProlificStudy
    study: dict[str, Any]
    new: bool


def create(client: ProlificClient, body: dict[str, Any], slug: str, round_: int) -> Created:
    """Create the draft study once: the row is committed before the call, and after a lost
    answer the study is looked up by its internal name instead of created again."""
    name = body["internal_name"]
    row = db.session.scalar(select(ProlificStudy).where(
        ProlificStudy.api_url == client.url, ProlificStudy.internal_name == name))
    if row is None:
        row = ProlificStudy(api_url=client.url, experiment_slug=slug, round=round_,
                            internal_name=name, reward_cents=body["reward"],
                            places=body["total_available_places"])
        db.session.add(row)
        db.session.commit()
    elif row.study_id:
        return Created(row, client.get(f"studies/{row.study_id}/", what="reading the study"),
                       False)
    found = find_by_internal_name(client, name)  # a call before ours may have been applied
    new = found is None
    if found is None:
        try:
            found = client.post("studies/", body, what="creating the study", safe=False)
        except ProlificError as error:
            if not error.maybe_applied:
                raise
            found = find_by_internal_name(client, name)
            if found is None:
                raise
    row.study_id = found["id"]
    db.session.commit()
    return Created(row, found, new)


def record_simulator_studies(api_url: str, bodies: dict[str, dict[str, Any]]) -> int:
    """Record the studies ``flask simulator run`` publishes (one per experiment, its id the
    slug) as this project's at the simulator's ``api_url``, so the review page, ``--all`` and
    the test-run rule follow them as they follow ``create``'s; the studies of an earlier
    simulator at that URL (gone with its memory) are forgotten. How many; caller commits."""
    forgotten = db.session.execute(delete(ProlificStudy).where(
        ProlificStudy.api_url == api_url)).rowcount or 0
    for slug, body in bodies.items():
        db.session.add(ProlificStudy(api_url=api_url, experiment_slug=slug, round=0,
                                     internal_name=body["internal_name"], study_id=slug,
                                     reward_cents=body["reward"],
                                     places=body["total_available_places"]))
    return forgotten


def transition(client: ProlificClient, study_id: str, action: str) -> dict[str, Any]:
    """Move the study (PUBLISH, PAUSE, START, STOP); already there is success."""
    try:
        return client.post(f"studies/{study_id}/transition/", {"action": action},
                           what=f"{action.lower()} of study {study_id}")
    except ProlificError:
        study = client.get(f"studies/{study_id}/", what=f"reading study {study_id}")
        if study.get("status") == TARGETS[action]:
            return study
        raise


def add_places(client: ProlificClient, study_id: str, extra: int) -> dict[str, Any]:
    """Raise the study's places by ``extra`` (the new total is computed from Prolific's)."""
    study = client.get(f"studies/{study_id}/", what=f"reading study {study_id}")
    total = int(study["total_available_places"]) + extra
    return client.request("PATCH", f"studies/{study_id}/", {"total_available_places": total},
                          what=f"adding {extra} places to study {study_id}")
