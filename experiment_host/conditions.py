"""Least-filled condition assignment, honouring quotas, safe under concurrent arrivals."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, func, select

from .database import upsert_increment
from .experiments import Experiment
from .extensions import db
from .models import ConditionTally, ExperimentRow, Run, RunStatus, utcnow


def lock_experiment(slug: str) -> None:
    """Serialise arrivals for one experiment until the transaction ends.

    The statement is a write: PostgreSQL locks the experiment's row, SQLite takes its
    database write lock; either way the counts read next are current.
    """
    db.session.execute(upsert_increment(ExperimentRow, {"slug": slug}, "arrivals"))


def abandon_cutoff(experiment: Experiment, default_minutes: float, now: datetime) -> datetime:
    """Runs last seen before this time no longer hold a condition slot."""
    minutes = experiment.config.abandon_after_minutes or default_minutes
    return now - timedelta(minutes=minutes)


def condition_counts(slug: str, cutoff: datetime) -> dict[str, int]:
    """Runs holding a place per condition: finished ones, and in-progress ones seen lately.

    The finished ones come from the trigger-kept tally. The in-progress ones are counted by
    the database over the covering index (slug, status, last_seen_at, condition), so an
    arrival reads index entries of active runs only, never a run row, and none of the runs
    already finished. The CTE is materialised because SQLite's planner, left to itself,
    groups by walking the (slug, condition) index over every run of the experiment.
    """
    counts = dict(db.session.execute(
        select(ConditionTally.condition, ConditionTally.held)
        .where(ConditionTally.experiment_slug == slug)
    ).all())
    for condition, active in db.session.execute(_active_counts(), {"slug": slug, "cutoff": cutoff}):
        if condition is not None:
            counts[condition] = counts.get(condition, 0) + active
    return counts


@cache
def _active_counts() -> Select[tuple[str | None, int]]:
    """In-progress runs seen since ``cutoff``, per condition (built once)."""
    active = (
        select(Run.condition)
        .where(Run.experiment_slug == bindparam("slug"), Run.status == RunStatus.IN_PROGRESS,
               Run.last_seen_at >= bindparam("cutoff", type_=Run.last_seen_at.type))
        .cte("active")
        .prefix_with("MATERIALIZED")
    )
    return select(active.c.condition, func.count()).group_by(active.c.condition)


def choose_condition(experiment: Experiment, counts: Mapping[str, int],
                     rng: random.Random | None = None) -> str | None:
    """The least-filled condition with room left (ties broken at random), or None if full."""
    open_conditions = [
        c for c in experiment.config.conditions
        if c.quota is None or counts.get(c.name, 0) < c.quota
    ]
    if not open_conditions:
        return None
    fewest = min(counts.get(c.name, 0) for c in open_conditions)
    tied = [c.name for c in open_conditions if counts.get(c.name, 0) == fewest]
    return (rng or random).choice(tied)


def assign_condition(experiment: Experiment, default_abandon_minutes: float) -> str | None:
    """Pick the condition for a new run (None when full); call with the experiment locked."""
    cutoff = abandon_cutoff(experiment, default_abandon_minutes, utcnow())
    return choose_condition(experiment, condition_counts(experiment.slug, cutoff))
