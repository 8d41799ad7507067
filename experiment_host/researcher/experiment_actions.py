"""The actions on an experiment's dashboard page: test runs (start one, purge them all),
deleting a participant's run on request, and sharing (grant, revoke)."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, url_for

from ..access import Level, grant, revoke
from ..audit import audit
from ..experiments import ExperimentConfigError
from ..extensions import db
from ..models import Platform
from ..pilots import purge_tests, test_entry_url, test_run_counts
from ..reloading import reload_registry
from ..withdrawal import WithdrawalError, delete_runs, plan_deletion
from .accounts import AccountError
from .auth import login_required
from .forms import ConfirmForm, GrantForm, RevokeForm, TestRunForm
from .views import bp, known_experiment


@bp.post("/experiments/<slug>/test-run")
@login_required
def start_test_run(slug: str) -> Any:
    """Open the real worker flow of the experiment as a test run (preview to done page)."""
    known_experiment(slug, hosted=True, level=Level.EDIT)
    form = TestRunForm()
    if not form.validate_on_submit():
        abort(400, "Choose a platform (mturk, prolific or link); the form may have expired.")
    return redirect(test_entry_url(slug, Platform(form.platform.data)), 303)


@bp.post("/experiments/<slug>/purge-tests")
@login_required
def purge_test_runs(slug: str) -> Any:
    """Show how many test runs would go; with ``confirm=yes``, delete them."""
    known_experiment(slug, level=Level.EDIT)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    if form.confirm.data != "yes":
        counts = test_run_counts(slug)
        confirm = ConfirmForm(formdata=None, confirm="yes")
        return render_template("researcher/purge_tests.html", slug=slug, counts=counts,
                               total=sum(counts.values()), form=confirm)
    purged = purge_tests(slug)
    audit("purge-tests", slug, f"{purged} test run(s)")
    db.session.commit()
    return redirect(url_for("researcher.experiment", slug=slug, purged=purged), 303)


@bp.post("/experiments/<slug>/runs/<int:run_id>/delete")
@login_required
def delete_run(slug: str, run_id: int) -> Any:
    """Show what deleting the run takes away; with ``confirm=yes``, delete it for good."""
    known_experiment(slug, level=Level.EDIT)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    try:
        plan = plan_deletion(slug, run_id=run_id)
    except WithdrawalError:
        abort(404, f"There is no run {run_id} of {slug!r}.")
    if form.confirm.data != "yes":
        return render_template("researcher/delete_run.html", slug=slug, plan=plan,
                               form=ConfirmForm(formdata=None, confirm="yes"))
    gone = delete_runs(plan)
    db.session.commit()
    return redirect(url_for("researcher.experiment", slug=slug, deleted=gone), 303)


@bp.post("/experiments/<slug>/reload")
@login_required
def reload_experiments(slug: str) -> Any:
    """Read the experiments folder again (every process follows); refuse a broken one."""
    known_experiment(slug, level=Level.EDIT)
    if not ConfirmForm().validate_on_submit():
        abort(400, "The form expired; please try again.")
    try:
        _, version = reload_registry(slug)
    except ExperimentConfigError as error:
        db.session.rollback()
        return render_template("researcher/message.html", title="Not reloaded",
                               message=f"Not reloaded: {error}"), 400
    return redirect(url_for("researcher.experiment", slug=slug, reloaded=version), 303)


@bp.post("/experiments/<slug>/access")
@login_required
def grant_access(slug: str) -> Any:
    """Give a researcher view, edit or owner access (owners only)."""
    known_experiment(slug, level=Level.OWNER)
    form = GrantForm()
    if not form.validate_on_submit():
        abort(400, "Give a researcher's name and a level (view, edit or owner).")
    _change(grant, slug, form.name.data or "", form.level.data)
    return redirect(url_for("researcher.experiment", slug=slug, _anchor="access"), 303)


@bp.post("/experiments/<slug>/access/revoke")
@login_required
def revoke_access(slug: str) -> Any:
    """Take a researcher's access away (owners only)."""
    known_experiment(slug, level=Level.OWNER)
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400, "Give the researcher's name; the form may have expired.")
    _change(revoke, slug, form.name.data or "")
    return redirect(url_for("researcher.experiment", slug=slug, _anchor="access"), 303)


def _change(action: Any, *args: Any) -> None:
    try:
        action(*args)
    except AccountError as error:
        abort(400, str(error))
    db.session.commit()
