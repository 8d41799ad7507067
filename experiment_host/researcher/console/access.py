"""How a console page finds its experiment: one small function, so that per-experiment
roles plug in at one place (``experiment_host.access.require_experiment`` at merge)."""

from __future__ import annotations

from flask import abort
from sqlalchemy import exists, select

from ...experiments import registry
from ...extensions import db
from ...models import Run

VIEW, EDIT = "view", "edit"


def experiment_for(slug: str, level: str) -> str:
    """The experiment ``slug`` if the researcher may ``level`` it ("view" or "edit"): one
    hosted here or with runs; 404 otherwise. Every logged-in researcher may, for now."""
    if level not in (VIEW, EDIT):
        raise ValueError(f"unknown access level {level!r}")
    if slug in registry():
        return slug
    if db.session.scalar(select(exists().where(Run.experiment_slug == slug))):
        return slug
    abort(404, f"There is no experiment {slug!r}.")
