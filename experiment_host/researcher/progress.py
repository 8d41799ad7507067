"""The dashboard's progress figures while data comes in: completions over time (binned by
the database), each condition against its quota, and how far runs got in the task, counted
on the task's own trials when the experiment says which records those are."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true

from ..database import json_text
from ..experiments import Experiment
from ..extensions import db
from ..models import ExperimentColumn, Run, RunStatus, TrialRecord
from ..record_keys import (
    CHECKPOINT_TYPE,
    OVERFLOW_COLUMN,
    PROPERTIES_COLUMN,
    PROPERTIES_TYPE,
)
from .charts import Progress

#: A study is "young" (completions binned by the hour) for this long after its first run;
#: after that, by the UTC day.
HOURLY_FOR = timedelta(hours=72)
NOT_TEST = Run.is_test.is_(false())
#: Records that are never trials: the jsPsych adapter's resume and run-properties records.
BOOKKEEPING_TYPES = (CHECKPOINT_TYPE, PROPERTIES_TYPE)


@dataclass(frozen=True)
class Completions:
    """Running totals of runs that reached completion, one per bin, oldest first."""

    bins: list[tuple[datetime, int]]
    hourly: bool


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _bin_of(column: Any, hourly: bool) -> ColumnElement[str]:
    if _dialect() == "postgresql":
        return func.to_char(column, "YYYY-MM-DD HH24" if hourly else "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d", column)


def _floor(moment: datetime, hourly: bool) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment if hourly else moment.replace(hour=0)


def cumulative_completions(slug: str, now: datetime) -> Completions:
    """Runs that reached completion (test runs left out), counted per hour while the study
    is young and per UTC day after, as running totals from the first run's bin to now."""
    where = (Run.experiment_slug == slug, NOT_TEST)
    first = db.session.scalar(select(func.min(Run.created_at)).where(*where))
    if first is None:
        return Completions([], True)
    hourly = now - first < HOURLY_FOR
    # A run synced to submitted or approved without our completion time still completed.
    when = func.coalesce(Run.completed_at, Run.submitted_at, Run.reviewed_at, Run.last_seen_at)
    label = _bin_of(when, hourly)
    rows = db.session.execute(
        select(label, func.count()).where(*where, Run.status.in_(RunStatus.REACHED_COMPLETION))
        .group_by(label))
    fmt = "%Y-%m-%d %H" if hourly else "%Y-%m-%d"
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    start, end = _floor(first, hourly), _floor(max(now, first), hourly)
    counts: dict[datetime, int] = {}
    for text, n in rows:
        # A clock that was off puts a completion before the first run or after now: the
        # line keeps it, in the first or last bin, instead of stretching the axis.
        moment = min(max(datetime.strptime(text, fmt).replace(tzinfo=UTC), start), end)
        counts[moment] = counts.get(moment, 0) + int(n)
    bins, total = [], 0
    while start <= end:
        total += counts.get(start, 0)
        bins.append((start, total))
        start += step
    return Completions(bins, hourly)


def completion_target(experiment: Experiment | None) -> int | None:
    """``[dashboard] target``, else the sum of the conditions' quotas when each has one."""
    if experiment is None:
        return None
    config = experiment.config
    if config.dashboard.target is not None:
        return config.dashboard.target
    quotas = [c.quota for c in config.conditions]
    return sum(q for q in quotas if q is not None) if None not in quotas else None


def condition_progress(conditions: Sequence[Any]) -> list[Progress]:
    """Each condition's runs that hold a quota place, and those in progress (from the
    summary's counts, so no further query)."""
    return [Progress(c.name, c.counted, c.by_status.get(RunStatus.IN_PROGRESS.value, 0), c.quota)
            for c in conditions]


def counted_record(rule: Mapping[str, Sequence[str]] | None,
                   bookkeeping: bool = True) -> ColumnElement[bool]:
    """Which trial_records count as trials: never bookkeeping records; with a rule, only
    records whose every named key holds one of its values. ``bookkeeping=False`` says the
    experiment has none, which spares the database reading trial_type from every record."""
    rule = dict(rule or {})
    wanted = []
    if "trial_type" in rule:  # a rule on trial_type leaves bookkeeping out by itself
        rule["trial_type"] = [v for v in rule["trial_type"] if v not in BOOKKEEPING_TYPES]
    elif bookkeeping:
        trial_type = json_text(TrialRecord.data, "trial_type")
        wanted.append(or_(trial_type.is_(None), trial_type.not_in(BOOKKEEPING_TYPES)))
    for key, values in rule.items():
        wanted.append(json_text(TrialRecord.data, *key.split(".")).in_(list(values)))
    return and_(true(), *wanted)


def _stored_keys(slug: str, rule: Mapping[str, Sequence[str]]) -> tuple[bool, bool]:
    """From the column registry, without reading records: (could any record match the
    rule's keys, has the experiment any checkpoint or run-properties records)."""
    columns = db.session.execute(
        select(ExperimentColumn.name, ExperimentColumn.in_trials,
               ExperimentColumn.in_checkpoints).where(ExperimentColumn.experiment_slug == slug))
    in_trials, bookkeeping = set(), False
    for name, trials, checkpoints in columns:
        bookkeeping = bookkeeping or checkpoints or name == PROPERTIES_COLUMN
        if trials or name == OVERFLOW_COLUMN:
            in_trials.add(name)
    # A key that overflowed has no column of its own: with an overflow, any key may exist.
    possible = OVERFLOW_COLUMN in in_trials or all(k in in_trials for k in rule)
    return possible, bookkeeping


def trial_progress(slug: str, rule: Mapping[str, Sequence[str]] | None
                   ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(runs that reached trial n, returned/abandoned/declined runs that stopped after n
    trials) over started runs. With a rule, trials are the records it counts (one grouped
    query over the experiment's records, none when the column registry shows that no record
    has the rule's keys); without, every record a run saved (``runs.record_count``)."""
    stopped = case((Run.status.in_(RunStatus.REVIVABLE), 1), else_=0)
    if rule is None:
        per_run = select(Run.record_count.label("n"), stopped.label("stopped")).where(
            Run.experiment_slug == slug, Run.record_count > 0, NOT_TEST)
    else:
        possible, bookkeeping = _stored_keys(slug, rule)
        if not possible:
            return [], []
        per_run = (select(func.count(TrialRecord.id).label("n"), stopped.label("stopped"))
                   .join(TrialRecord, TrialRecord.run_id == Run.id)
                   .where(Run.experiment_slug == slug, NOT_TEST, Run.record_count > 0,
                          counted_record(rule, bookkeeping))
                   .group_by(Run.id, Run.status))
    runs = per_run.subquery()
    rows = db.session.execute(
        select(runs.c.n, func.count(), func.sum(runs.c.stopped))
        .group_by(runs.c.n).order_by(runs.c.n.desc())).all()
    reached: list[tuple[int, int]] = []
    remaining = 0
    for n, count, _ in rows:
        remaining += count
        reached.append((int(n), remaining))
    drop_off = [(int(n), int(s)) for n, _, s in reversed(rows) if s]
    return list(reversed(reached)), drop_off
