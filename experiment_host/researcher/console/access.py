"""How a console page finds its experiment: one small function over the lab's per-experiment
access check, so every console route states the level it needs."""

from __future__ import annotations

from flask import abort
from sqlalchemy import exists, select

from ...access import check_access
from ...experiments import registry
from ...extensions import db
from ...models import Run

VIEW, EDIT = "view", "edit"


def experiment_for(slug: str, level: str) -> str:
    """The experiment ``slug`` if the researcher may ``level`` it ("view" or "edit"): one
    hosted here or with runs, and granted to them; 404 (or 403 for too low a level) otherwise."""
    if level not in (VIEW, EDIT):
        raise ValueError(f"unknown access level {level!r}")
    if slug not in registry() and not db.session.scalar(
            select(exists().where(Run.experiment_slug == slug))):
        abort(404, f"There is no experiment {slug!r}.")
    check_access(slug, level)
    return slug
