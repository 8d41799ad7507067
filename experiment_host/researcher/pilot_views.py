"""Researcher routes for test runs: start one from the dashboard, purge them all."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, url_for

from ..extensions import db
from ..models import Platform
from ..pilots import purge_tests, test_entry_url, test_run_counts
from .auth import login_required
from .forms import PurgeTestsForm, TestRunForm
from .views import bp, known_experiment


@bp.post("/experiments/<slug>/test-run")
@login_required
def start_test_run(slug: str) -> Any:
    """Open the real worker flow of the experiment as a test run (preview to done page)."""
    known_experiment(slug, hosted=True)
    form = TestRunForm()
    if not form.validate_on_submit():
        abort(400, "Choose a platform (mturk, prolific or link); the form may have expired.")
    return redirect(test_entry_url(slug, Platform(form.platform.data)), 303)


@bp.post("/experiments/<slug>/purge-tests")
@login_required
def purge_test_runs(slug: str) -> Any:
    """Show how many test runs would go; with ``confirm=yes``, delete them."""
    known_experiment(slug)
    form = PurgeTestsForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    if form.confirm.data != "yes":
        counts = test_run_counts(slug)
        confirm = PurgeTestsForm(formdata=None, confirm="yes")
        return render_template("researcher/purge_tests.html", slug=slug, counts=counts,
                               total=sum(counts.values()), form=confirm)
    purged = purge_tests(slug)
    db.session.commit()
    return redirect(url_for("researcher.experiment", slug=slug, purged=purged), 303)
