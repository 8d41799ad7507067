"""Dashboard: counts against quotas, funnel, timing, drop-off, charts, paged runs table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from experiment_host.extensions import db
from experiment_host.models import ExperimentRow, Platform, RunStatus
from experiment_host.researcher import dashboard, progress
from tests.researcher.support import T0


@pytest.fixture
def study(app, seed):
    """Six runs of 'basic' in several states, plus previews."""
    seed(data=[{"t": i} for i in range(4)], minutes=10, status=RunStatus.APPROVED)
    seed(data=[{"t": i} for i in range(4)], minutes=20, status=RunStatus.SUBMITTED,
         start=T0 + timedelta(days=1))
    seed(data=[{"t": i} for i in range(4)], minutes=30, condition="B")
    seed(data=[{"t": 0}], status=RunStatus.RETURNED, condition="B")
    seed(data=[], status=RunStatus.DECLINED, condition="B")
    seed(data=[{"t": 0}, {"t": 1}], status=RunStatus.IN_PROGRESS, platform=Platform.PROLIFIC)
    with app.app_context():
        db.session.get(ExperimentRow, "basic").previews = 9
        db.session.commit()


def test_aggregates(app, study):
    with app.test_request_context():
        summary = dashboard.experiment_summaries("basic")[0]
        assert summary.by_status == {"approved": 1, "submitted": 1, "completed": 1,
                                     "returned": 1, "declined": 1, "in_progress": 1}
        a, b = summary.conditions
        assert (a.name, a.quota, a.counted, b.counted) == ("A", 3, 2, 1)
        funnel = dashboard.funnel("basic")
        assert funnel.steps() == [("previewed", 9), ("accepted", 6), ("started", 6),
                                  ("completed", 3), ("submitted", 2), ("approved", 1)]
        assert dashboard.median_completion_seconds("basic") == pytest.approx(20 * 60, abs=1)
        reached, drop_off = progress.trial_progress("basic", None)
        assert reached == [(1, 5), (2, 4), (4, 3)]
        assert drop_off == [(1, 1)]
        assert dashboard.recent_runs("basic")[0].status == RunStatus.SUBMITTED


def test_index_page(logged_in, study):
    html = logged_in.get("/researcher/").get_data(as_text=True)
    assert "Basic test experiment" in html and "Open experiment" in html
    assert 'class="full"' not in html  # no condition has reached its quota of 3


def test_experiment_page(logged_in, study):
    response = logged_in.get("/researcher/experiments/basic")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<svg" in html and "reached completion over time" in html
    assert "reached each record" in html and "Conditions against their quotas" in html
    assert "5 runs reached record 1 and 3 reached record 4" in html  # no rule: records
    assert "20.0 min" in html and "previewed" in html
    assert 'href="/researcher/export/basic/trials.csv"' in html


def test_runs_table_filters_and_pages(logged_in, app, seed):
    for _ in range(5):
        seed(status=RunStatus.COMPLETED)
    seed(status=RunStatus.REJECTED, condition="B")
    app.config["RUNS_PER_PAGE"] = 2
    first = logged_in.get("/researcher/experiments/basic").get_data(as_text=True)
    assert "page 1 of 3" in first and "6 matching" in first
    third = logged_in.get("/researcher/experiments/basic?page=3").get_data(as_text=True)
    assert "page 3 of 3" in third and 'rel="prev"' in third and 'rel="next"' not in third
    rejected = logged_in.get("/researcher/experiments/basic?status=rejected&condition=B")
    assert "1 matching" in rejected.get_data(as_text=True)
    completed = logged_in.get("/researcher/experiments/basic?status=completed")
    html = completed.get_data(as_text=True)
    assert "5 matching" in html
    assert "page=2&amp;status=completed" in html  # paging keeps the filter
    assert "trials.csv?status=completed" in html  # so do the downloads


@pytest.mark.parametrize("query, status", [
    ("page=0", 400), ("page=x", 400), ("page=-1", 400), ("page=2", 404),
    ("since=yesterday", 400), ("status=nope", 400), ("condition=Q", 400),
    ("page=%C2%B2", 400), ("page=" + "9" * 30, 400),  # '²' is a digit to str.isdigit
    ("since=0001-01-01T00:00:00%2B23:59", 400),
])
def test_bad_page_and_filter_values(logged_in, query, status):
    response = logged_in.get(f"/researcher/experiments/basic?{query}",
                             headers={"Accept": "text/html"})
    assert response.status_code == status
    assert b"<h1>" in response.data  # a page, not a traceback


def test_unknown_experiment_page_is_404(logged_in):
    assert logged_in.get("/researcher/experiments/nope").status_code == 404


def test_experiment_only_in_data_is_listed(logged_in, seed):
    seed(slug="retired", condition="old")
    assert "no longer hosted" in logged_in.get("/researcher/").get_data(as_text=True)
    assert logged_in.get("/researcher/experiments/retired").status_code == 200
