"""Counting and purging an experiment's test runs."""

from __future__ import annotations

from sqlalchemy import delete, func, select, true

from ..extensions import db
from ..links import release_places
from ..models import Platform, Run, TrialRecord


def test_run_counts(slug: str) -> dict[str, int]:
    """The experiment's test runs per status."""
    rows = db.session.execute(
        select(Run.status, func.count()).where(Run.experiment_slug == slug,
                                               Run.is_test.is_(true()))
        .group_by(Run.status))
    return {status.value: count for status, count in rows}


def latest_test_runs(slug: str, limit: int) -> list[Run]:
    """The experiment's newest test runs."""
    return list(db.session.scalars(
        select(Run).where(Run.experiment_slug == slug, Run.is_test.is_(true()))
        .order_by(Run.id.desc()).limit(limit)))


def purge_tests(slug: str) -> int:
    """Delete the experiment's test runs and their records; return how many runs went.

    The caller commits. Test runs are in no condition tally, so the tallies do not move.
    """
    test_runs = select(Run.id).where(Run.experiment_slug == slug, Run.is_test.is_(true()))
    db.session.execute(delete(TrialRecord).where(TrialRecord.run_id.in_(test_runs)))
    release_places(list(db.session.scalars(select(Run.session_key).where(
        Run.experiment_slug == slug, Run.is_test.is_(true()), Run.platform == Platform.LINK))))
    result = db.session.execute(delete(Run).where(Run.experiment_slug == slug,
                                                  Run.is_test.is_(true())))
    return result.rowcount or 0
