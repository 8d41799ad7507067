"""Least-filled condition assignment, honouring quotas, safe under concurrent arrivals."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, func, select

from .database import increment
from .experiments import Experiment
from .extensions import db
from .models import ConditionTally, ExperimentRow, Run, RunStatus, utcnow


def lock_experiment(slug: str) -> None:
    """Serialise arrivals for one experiment until the transaction ends.

    The statement is a write: PostgreSQL locks the experiment's row, SQLite takes its
    database write lock; either way the counts read next are current.
    """
    increment(ExperimentRow, {"slug": slug}, "arrivals")


def abandon_cutoff(experiment: Experiment, default_minutes: float, now: datetime) -> datetime:
    """Runs last seen before this time no longer hold a condition slot."""
    minutes = experiment.config.abandon_after_minutes or default_minutes
    return now - timedelta(minutes=minutes)


def condition_counts(slug: str, cutoff: datetime) -> dict[str, int]:
    """Runs holding a place per condition: finished ones, and in-progress ones seen lately.

    One statement, so one snapshot: the trigger-kept tallies (``held`` and ``in_progress``)
    less the runs in progress that were last seen before ``cutoff``.
    """
    return dict(db.session.execute(_counts(), {"slug": slug, "cutoff": cutoff}).all())


@cache
def _counts() -> Select[tuple[str, int]]:
    """The statement behind ``condition_counts`` (built once).

    The quiet runs are counted over the covering index (slug, status, last_seen_at,
    condition): an arrival reads index entries of those runs only, never a run row, and
    neither the runs working now nor those already finished. The CTE is materialised
    because SQLite's planner, left to itself, walks the (slug, condition) index over every
    run of the experiment instead.
    """
    quiet = (
        select(Run.condition)
        .where(Run.experiment_slug == bindparam("slug"), Run.status == RunStatus.IN_PROGRESS,
               Run.last_seen_at < bindparam("cutoff", type_=Run.last_seen_at.type))
        .cte("quiet")
        .prefix_with("MATERIALIZED")
    )
    per_condition = (
        select(quiet.c.condition, func.count().label("runs"))
        .group_by(quiet.c.condition)
        .subquery("quiet_per_condition")
    )
    tally = ConditionTally
    return (
        select(tally.condition,
               tally.held + tally.in_progress - func.coalesce(per_condition.c.runs, 0))
        .outerjoin(per_condition, per_condition.c.condition == tally.condition)
        .where(tally.experiment_slug == bindparam("slug"))
    )


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
