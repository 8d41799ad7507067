"""Aggregate queries for the dashboard: every figure is computed by the database and only
aggregates (and one page of runs) come back, so pages stay fast as runs grow; nothing here
reads trial_records (per-run counts are kept in ``runs.record_count``); the charts'
figures are in ``progress``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, false, func, or_, select

from ..experiments import registry
from ..extensions import db
from ..models import ExperimentRow, Run, RunStatus
from .filters import RunFilter, since_runs, where_runs

RECENT_RUNS = 10
#: How each status reads on the dashboard, and what it means (the label's tooltip).
STATUS_LABELS: dict[RunStatus, tuple[str, str]] = {
    RunStatus.IN_PROGRESS: ("in progress", "started, not finished yet"),
    RunStatus.COMPLETED: ("completed", "finished the task; not yet submitted on the platform"),
    RunStatus.SUBMITTED: ("submitted", "submitted on the platform, waiting for review"),
    RunStatus.APPROVED: ("approved", "approved on the platform"),
    RunStatus.REJECTED: ("rejected", "rejected on the platform"),
    RunStatus.RETURNED: ("returned", "the participant gave the HIT or study back on the "
                                     "platform; the quota place is free again"),
    RunStatus.ABANDONED: ("abandoned", "timed out on the platform, or not seen for too long"),
    RunStatus.DECLINED: ("declined", "did not consent or was screened out"),
}
#: Every figure here is about participants: test runs are shown apart (``pilots``).
NOT_TEST = Run.is_test.is_(false())


@dataclass
class ConditionCounts:
    name: str
    quota: int | None
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def counted(self) -> int:
        """Runs that hold a quota slot for good (completed, submitted, approved)."""
        return sum(self.by_status.get(status, 0) for status in RunStatus.COUNTED)


@dataclass
class ExperimentSummary:
    slug: str
    title: str
    hosted: bool
    by_status: dict[str, int] = field(default_factory=dict)
    conditions: list[ConditionCounts] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass(frozen=True)
class Funnel:
    previewed: int | None
    accepted: int
    started: int
    completed: int
    submitted: int
    approved: int

    def steps(self) -> list[tuple[str, int]]:
        steps = [("previewed", self.previewed)] if self.previewed else []
        return [*steps, ("accepted", self.accepted), ("started", self.started),
                ("completed", self.completed), ("submitted", self.submitted),
                ("approved", self.approved)]


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def duration_seconds() -> ColumnElement[Any]:
    """Seconds from arrival to completion, computed by the database."""
    if _dialect() == "postgresql":
        return func.extract("epoch", Run.completed_at - Run.created_at)
    return (func.julianday(Run.completed_at) - func.julianday(Run.created_at)) * 86400.0


def _summary(slug: str, hosted: bool) -> ExperimentSummary:
    experiment = registry().get(slug)
    summary = ExperimentSummary(slug, experiment.title if experiment else slug, hosted)
    if experiment is not None:
        summary.conditions = [ConditionCounts(c.name, c.quota)
                              for c in experiment.config.conditions]
    return summary


def _condition(summary: ExperimentSummary, name: str | None) -> ConditionCounts:
    label = name or "(none)"
    for counts in summary.conditions:
        if counts.name == label:
            return counts
    summary.conditions.append(ConditionCounts(label, None))
    return summary.conditions[-1]


def experiment_summaries(slug: str | None = None) -> list[ExperimentSummary]:
    """Runs per status and per condition, for every experiment (hosted or only in the data)."""
    summaries = {s: _summary(s, True) for s in registry() if slug in (None, s)}
    statement = select(Run.experiment_slug, Run.condition, Run.status, func.count()).where(
        NOT_TEST).group_by(Run.experiment_slug, Run.condition, Run.status)
    if slug is not None:
        statement = statement.where(Run.experiment_slug == slug)
    for exp_slug, condition, status, count in db.session.execute(statement):
        summary = summaries.get(exp_slug) or summaries.setdefault(
            exp_slug, _summary(exp_slug, False))
        summary.by_status[status.value] = summary.by_status.get(status.value, 0) + count
        by_status = _condition(summary, condition).by_status
        by_status[status.value] = by_status.get(status.value, 0) + count
    return sorted(summaries.values(), key=lambda s: s.slug)


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def funnel(slug: str) -> Funnel:
    """previewed (MTurk, if known) → accepted → started → completed → submitted → approved."""
    row = db.session.execute(
        select(
            func.count(),
            _flag(or_(Run.consented_at.is_not(None), Run.record_count > 0)),
            _flag(or_(Run.completed_at.is_not(None), Run.status.in_(RunStatus.REACHED_COMPLETION))),
            _flag(or_(Run.submitted_at.is_not(None), Run.status.in_(RunStatus.FINAL_FOR_WORKER))),
            _flag(Run.status == RunStatus.APPROVED),
        ).where(Run.experiment_slug == slug, NOT_TEST)
    ).one()
    previews = db.session.scalar(select(ExperimentRow.previews).where(ExperimentRow.slug == slug))
    return Funnel(previews or None, *(int(value) for value in row))


def median_completion_seconds(slug: str) -> float | None:
    """The median of completed_at - created_at over runs that completed."""
    done = (Run.experiment_slug == slug, Run.completed_at.is_not(None), NOT_TEST)
    count = db.session.scalar(select(func.count()).where(*done)) or 0
    if count == 0:
        return None
    middle = db.session.scalars(
        select(duration_seconds()).where(*done).order_by(duration_seconds())
        .offset((count - 1) // 2).limit(2 - count % 2)
    ).all()
    return float(sum(middle)) / len(middle)


def recent_runs(slug: str) -> list[Run]:
    """The runs seen most recently."""
    return list(db.session.scalars(
        select(Run).where(Run.experiment_slug == slug, NOT_TEST)
        .order_by(Run.last_seen_at.desc(), Run.id.desc()).limit(RECENT_RUNS)
    ))


@dataclass(frozen=True)
class RunsPage:
    runs: list[Run]
    page: int
    pages: int
    total: int


def runs_page(slug: str, run_filter: RunFilter, page: int, per_page: int) -> RunsPage | None:
    """One page of runs (newest first); None when ``page`` is past the last page."""
    filtered = since_runs(where_runs(select(Run.id), run_filter, slug), run_filter.since)
    total = db.session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
    pages = max(1, -(-total // per_page))
    if page > pages:
        return None
    statement = since_runs(where_runs(select(Run), run_filter, slug), run_filter.since)
    runs = db.session.scalars(
        statement.order_by(Run.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return RunsPage(list(runs), page, pages, total)


def last_activity(slug: str) -> datetime | None:
    """When any run of the experiment was last seen."""
    return db.session.scalar(select(func.max(Run.last_seen_at)).where(
        Run.experiment_slug == slug, NOT_TEST))
