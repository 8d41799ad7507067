"""Least-filled condition assignment, honouring quotas: balanced designs need it to stay
right when many workers arrive at once, so it is decided under one lock per experiment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Dialect,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
)

from .database import increment, increment_statement
from .driver_statements import DriverStatement, commit_together
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
    condition, is_test): an arrival reads index entries of those runs only, never a run row, and
    neither the runs working now nor those already finished. The CTE is materialised
    because SQLite's planner, left to itself, walks the (slug, condition) index over every
    run of the experiment instead.
    """
    quiet = (
        select(Run.condition)
        .where(Run.experiment_slug == bindparam("slug"), Run.status == RunStatus.IN_PROGRESS,
               Run.last_seen_at < bindparam("cutoff", type_=Run.last_seen_at.type),
               Run.is_test.is_(false()))  # in no tally (tallies.py)
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
               (tally.held + tally.in_progress
                - func.coalesce(per_condition.c.runs, 0)).label("runs"))
        .outerjoin(per_condition, per_condition.c.condition == tally.condition)
        .where(tally.experiment_slug == bindparam("slug"))
    )


#: A condition as the assignment offers it: its name and its quota (None: no quota).
Offered = tuple[tuple[str, int | None], ...]


def _offered(experiment: Experiment) -> Offered:
    return tuple((c.name, c.quota) for c in experiment.config.conditions)


def pick_condition(experiment: Experiment, cutoff: datetime) -> str | None:
    """The condition a new run would get now: the least-filled one with room left (ties
    broken at random), or None if every one is full."""
    return db.session.scalar(_pick(_offered(experiment)),
                             {"slug": experiment.slug, "cutoff": cutoff})


@cache
def _pick(offered: Offered) -> Select[tuple[str]]:
    """The statement behind ``pick_condition``, built once per experiment's conditions."""
    held = _counts().subquery("held")
    rows = [select(literal(name, String).label("name"),
                   cast(null() if quota is None else literal(quota), Integer).label("quota"))
            for name, quota in offered]
    conditions = (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("offered")
    filled = func.coalesce(held.c.runs, 0)
    return (
        select(conditions.c.name)
        .outerjoin(held, held.c.condition == conditions.c.name)
        .where(or_(conditions.c.quota.is_(None), filled < conditions.c.quota))
        .order_by(filled, func.random())
        .limit(1)
    )


def create_run(experiment: Experiment, run: Mapping[str, Any],
               default_abandon_minutes: float) -> tuple[int, str] | None:
    """Insert a run with the condition picked for it, and commit: its id and condition, or
    None (nothing inserted) if the experiment is full.

    ``run`` holds the new run's columns but its condition. The experiment's lock is taken
    first, so arrivals count, pick and insert one at a time. The lock, the insert and the
    commit go to PostgreSQL in one round trip (:func:`commit_together`): the lock is held
    for as long as the server takes to run them, not while the request waits its turn in
    a busy process. A worker's second arrival racing the first raises IntegrityError.
    """
    connection = db.session.connection()
    lock, insert_run = _creation_statements(_offered(experiment), type(connection.dialect))
    cutoff = abandon_cutoff(experiment, default_abandon_minutes, utcnow())
    rows = commit_together(connection, [
        (lock, {"slug": experiment.slug}),
        (insert_run, {**run, "slug": experiment.slug, "cutoff": cutoff}),
    ])
    return tuple(rows[0]) if rows else None  # (id, condition)


@cache
def _creation_statements(offered: Offered, dialect_class: type[Dialect]
                         ) -> tuple[DriverStatement, DriverStatement]:
    """The experiment's lock and the run's insert, for the driver's cursor."""
    dialect = dialect_class.name
    lock = DriverStatement.compile(
        increment_statement(ExperimentRow, ("slug",), "arrivals", dialect), dialect_class)
    pick = _pick(offered).subquery("pick")
    columns = [c for c in Run.__table__.columns if c.name not in ("id", "condition")]
    source = select(*(bindparam(c.name, type_=c.type) for c in columns), pick.c.name)
    insert_run = (
        insert(Run)
        .from_select([*(c.name for c in columns), "condition"], source, include_defaults=False)
        .returning(Run.id, Run.condition)
    )
    return lock, DriverStatement.compile(insert_run, dialect_class)
