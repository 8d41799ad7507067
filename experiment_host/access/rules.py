"""The access check itself: the current researcher's level on an experiment."""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort, g
from sqlalchemy import select

from ..experiments import Experiment, registry
from ..extensions import db
from .models import ExperimentAccess, Level


def _own_level(slug: str) -> Level | None:
    researcher = g.get("researcher")
    if researcher is None:
        return None
    if researcher.is_admin:
        return Level.OWNER
    return db.session.scalar(select(ExperimentAccess.level).where(
        ExperimentAccess.experiment_slug == slug,
        ExperimentAccess.researcher_id == researcher.id))


def current_level(slug: str) -> Level | None:
    """The current researcher's level on ``slug`` (None: no access), narrowed by the API
    token the request came with (limited to some experiments, or read-only)."""
    level = _own_level(slug)
    token = g.get("api_token")
    if level is None or token is None:
        return level
    if token.experiments and slug not in token.experiments.split():
        return None
    return Level.VIEW if token.read_only else level


def check_access(slug: str, level: Level | str = Level.VIEW) -> Level:
    """Abort unless the current researcher has ``level`` on ``slug``: 404 with no access at
    all (as if there were no such experiment), 403 with a lower level. Return the level."""
    wanted = Level(level)
    have = current_level(slug)
    if have is None:
        abort(404, f"There is no experiment {slug!r}.")
    if have.rank < wanted.rank:
        token = g.get("api_token")
        why = "this API token is read-only" if token is not None and token.read_only else \
            f"you have {have.value} access to it"
        abort(403, f"This needs {wanted.value} access to {slug!r}; {why}.")
    return have


def require_experiment(slug: str, level: Level | str = Level.VIEW) -> Experiment:
    """The hosted experiment ``slug`` if the current researcher has ``level`` on it; else
    abort (404 for no access or no such experiment, 403 for a lower level)."""
    check_access(slug, level)
    experiment = registry().get(slug)
    if experiment is None:
        abort(404, f"There is no experiment {slug!r}.")
    return experiment


def visible(slugs: Iterable[str]) -> list[str]:
    """The slugs among ``slugs`` the current researcher may see."""
    return [slug for slug in slugs if current_level(slug) is not None]
