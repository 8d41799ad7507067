"""Least-filled condition assignment, honouring quotas, safe under concurrent arrivals."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select

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

    The finished ones come from the trigger-kept tally, the in-progress ones from a range
    scan of (slug, status, last_seen_at): neither grows with the runs already finished.
    """
    counts = dict(db.session.execute(
        select(ConditionTally.condition, ConditionTally.held)
        .where(ConditionTally.experiment_slug == slug)
    ).all())
    # Counted here rather than with GROUP BY: grouping tempts SQLite's planner into walking
    # the (slug, condition) index over every run; the range scan reads only active runs.
    active = db.session.scalars(
        select(Run.condition)
        .where(Run.experiment_slug == slug, Run.status == RunStatus.IN_PROGRESS,
               Run.last_seen_at >= cutoff)
    )
    for condition in active:
        if condition is not None:
            counts[condition] = counts.get(condition, 0) + 1
    return counts


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
