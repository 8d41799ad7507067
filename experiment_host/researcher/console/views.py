"""The console's pages. Each finds its experiment with :func:`..views.known_experiment` at the
level it needs (``view`` to look, ``edit`` to act); each action is a POST with a CSRF
token that first shows the plan and acts only once the researcher confirms it."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, g, render_template, request
from werkzeug.exceptions import HTTPException

from ...access import Level
from ...experiments import registry
from ...extensions import db
from ...mturk import Gateway, MTurkError, actions
from ...prolific import ProlificClient, ProlificError
from ...prolific import actions as prolific_actions
from ...prolific.client import NoToken
from ..auth import login_required
from ..forms import LogoutForm
from ..views import error_page, known_experiment
from . import mturk_review, prolific_review
from .entry import entry_urls
from .forms import (
    ConfirmForm,
    ProlificConfirmForm,
    ProlificReviewForm,
    ReviewForm,
    SyncForm,
)
from .mturk_review import ReviewError, ReviewRequest
from .run_detail import find_run, run_records

AFTER = re.compile(r"-1|[0-9]{1,9}")

bp = Blueprint("console", __name__, url_prefix="/researcher/experiments/<slug>")
bp.register_error_handler(HTTPException, error_page)


@bp.context_processor
def _layout() -> dict[str, Any]:
    return {"logout_form": LogoutForm(), "researcher": g.get("researcher")}


@bp.get("/entry")
@login_required
def entry(slug: str) -> Any:
    """The entry URL for each platform, ready to copy (view)."""
    known_experiment(slug, level=Level.VIEW)
    experiment = registry().get(slug)
    if experiment is None:
        abort(404, f"{slug!r} is no longer hosted here, so it has no entry URLs.")
    urls = entry_urls(experiment, current_app.config["PUBLIC_URL"])
    return render_template("console/entry.html", slug=slug, title=experiment.title, urls=urls)


def _gateway() -> Gateway:
    return mturk_review.console_gateway(current_app.config)


def _mturk_down(error: MTurkError) -> Any:
    abort(502, f"MTurk did not answer as expected: {error}")


@bp.get("/mturk")
@login_required
def mturk(slug: str) -> Any:
    """Submissions waiting for review, with whether their data is complete (view)."""
    known_experiment(slug, level=Level.VIEW)
    gateway = _gateway()
    try:
        page = mturk_review.review_page(gateway, slug)
    except MTurkError as error:
        return _mturk_down(error)
    return render_template("console/mturk_review.html", slug=slug, page=page, form=ReviewForm(),
                           sync_form=SyncForm())


def _request(form: ReviewForm) -> ReviewRequest:
    if not form.validate_on_submit():
        abort(400, "The form expired or is incomplete; reload the review page and try again.")
    try:
        return mturk_review.parse_request(
            form.do.data or "", form.assignment_ids.data or [], form.message.data or "",
            form.amount.data or "", form.reason.data or "", bool(form.approve_first.data))
    except ReviewError as error:
        abort(400, str(error))


def _plan(gateway: Gateway, slug: str, request: ReviewRequest) -> mturk_review.Plan:
    try:
        return mturk_review.build_plan(gateway, slug, request)
    except ReviewError as error:
        abort(400, str(error))
    except MTurkError as error:
        return _mturk_down(error)


@bp.post("/mturk/plan")
@login_required
def mturk_plan(slug: str) -> Any:
    """Show what a button will do, as the CLI would, and ask to confirm (edit)."""
    known_experiment(slug, level=Level.EDIT)
    form = ReviewForm()
    request = _request(form)
    gateway = _gateway()
    plan = _plan(gateway, slug, request)
    confirm = ConfirmForm(formdata=None, data=form.data)
    return render_template("console/mturk_plan.html", slug=slug, request=request, plan=plan,
                           lines=plan.lines(), refused=list(plan.refused),
                           shown=mturk_review.shown_items(plan),
                           empty=mturk_review.nothing_to_do(plan), form=confirm,
                           live=gateway.target.live, label=gateway.target.label)


@bp.post("/mturk/do")
@login_required
def mturk_do(slug: str) -> Any:
    """Carry out the confirmed plan, only for what it showed; a repeat does nothing new."""
    known_experiment(slug, level=Level.EDIT)
    form = ConfirmForm()
    request = _request(form)
    gateway = _gateway()
    if gateway.target.live and not form.live_ok.data:
        abort(400, "This is live MTurk: tick the box that says so to go ahead.")
    plan = mturk_review.confirmed_plan(_plan(gateway, slug, request), form.shown.data or [])
    try:
        lines, failures = mturk_review.carry_out(
            gateway, plan, int(current_app.config["MTURK_CONCURRENCY"]))
    except MTurkError as error:
        return _mturk_down(error)
    return render_template("console/done.html", review="console.mturk",
                           review_title="MTurk review", slug=slug, lines=lines,
                           failures=failures, title="Done")


@bp.post("/mturk/sync")
@login_required
def mturk_sync(slug: str) -> Any:
    """Copy MTurk's assignment states into the experiment's runs (edit), as flask hits sync."""
    known_experiment(slug, level=Level.EDIT)
    if not SyncForm().validate_on_submit():
        abort(400, "The form expired; reload the review page and try again.")
    gateway = _gateway()
    try:
        outcome = actions.sync_hits(gateway, mturk_review.experiment_hit_ids(gateway, slug))
    except MTurkError as error:
        return _mturk_down(error)
    failures = [f"failed {key}: {error}" for key, error in outcome.failures]
    return render_template("console/done.html", review="console.mturk",
                           review_title="MTurk review", slug=slug, lines=outcome.lines(),
                           failures=failures, title="Synced")


def _client() -> ProlificClient:
    return prolific_review.console_client(current_app.config)


def _prolific_down(error: ProlificError) -> Any:
    db.session.rollback()
    abort(502, f"Prolific did not answer as expected: {error}")


def _no_token() -> Any:
    abort(409, "PROLIFIC_API_TOKEN is not set on this host: set it (and PROLIFIC_API_URL for "
               "rehearsal) and restart the app.")


@bp.get("/prolific")
@login_required
def prolific(slug: str) -> Any:
    """The experiment's Prolific studies and their submissions, awaiting review first (view)."""
    known_experiment(slug, level=Level.VIEW)
    client = _client()
    page, missing = None, not client.settings.token
    if not missing:
        try:
            page = prolific_review.review_page(client, slug)
        except NoToken:
            missing = True
        except ProlificError as error:
            return _prolific_down(error)
    return render_template("console/prolific_review.html", slug=slug, page=page,
                           token_missing=missing, form=ProlificReviewForm(),
                           sync_form=SyncForm())


def _prolific_request(form: ProlificReviewForm) -> prolific_review.ReviewRequest:
    if not form.validate_on_submit():
        abort(400, "The form expired or is incomplete; reload the review page and try again.")
    try:
        return prolific_review.parse_request(
            form.do.data or "", form.study_id.data or "", form.submission_ids.data or [],
            form.message.data or "", form.category.data or "", form.amount.data or "",
            form.reason.data or "")
    except prolific_review.ReviewError as error:
        abort(400, str(error))


def _prolific_plan(client: ProlificClient, slug: str,
                   request: prolific_review.ReviewRequest) -> prolific_review.Plan:
    if not client.settings.token:
        _no_token()
    try:
        return prolific_review.build_plan(client, slug, request)
    except prolific_review.ReviewError as error:
        abort(400, str(error))
    except ProlificError as error:
        return _prolific_down(error)


@bp.post("/prolific/plan")
@login_required
def prolific_plan(slug: str) -> Any:
    """Show what a button will do, as ``flask prolific`` would, and ask to confirm (edit)."""
    known_experiment(slug, level=Level.EDIT)
    form = ProlificReviewForm()
    request = _prolific_request(form)
    client = _client()
    plan = _prolific_plan(client, slug, request)
    lines, shown = plan.lines(), prolific_review.shown_items(plan)
    empty = prolific_review.nothing_to_do(plan)
    db.session.rollback()  # a bonus plan's new ledger rows are only shown, never kept
    return render_template("console/prolific_plan.html", slug=slug, request=request,
                           lines=lines, shown=shown, empty=empty,
                           form=ProlificConfirmForm(formdata=None, data=form.data),
                           live=prolific_actions.is_live(client),
                           label=prolific_actions.where(client))


@bp.post("/prolific/do")
@login_required
def prolific_do(slug: str) -> Any:
    """Carry out the confirmed plan, only for what it showed; a repeat does nothing new."""
    known_experiment(slug, level=Level.EDIT)
    form = ProlificConfirmForm()
    request = _prolific_request(form)
    client = _client()
    if prolific_actions.is_live(client) and not form.live_ok.data:
        abort(400, "This is live Prolific: tick the box that says so to go ahead.")
    plan = prolific_review.confirmed_plan(_prolific_plan(client, slug, request),
                                          form.shown.data or [])
    try:
        lines, failures = prolific_review.carry_out(
            client, plan, int(current_app.config["PROLIFIC_CONCURRENCY"]))
    except ProlificError as error:
        return _prolific_down(error)
    return render_template("console/done.html", review="console.prolific",
                           review_title="Prolific review", slug=slug, lines=lines,
                           failures=failures, title="Done")


@bp.post("/prolific/sync")
@login_required
def prolific_sync(slug: str) -> Any:
    """Copy Prolific's submission statuses into the experiment's runs (edit), as
    ``flask prolific sync`` does for each of its studies."""
    known_experiment(slug, level=Level.EDIT)
    if not SyncForm().validate_on_submit():
        abort(400, "The form expired; reload the review page and try again.")
    client = _client()
    if not client.settings.token:
        _no_token()
    lines: list[str] = []
    try:
        for study_id in prolific_actions.experiment_studies(client.url, slug):
            lines += prolific_actions.sync_lines(
                study_id, prolific_actions.sync_study(client, study_id))
    except ProlificError as error:
        return _prolific_down(error)
    return render_template("console/done.html", review="console.prolific",
                           review_title="Prolific review", slug=slug,
                           lines=lines or ["No Prolific studies of this experiment here."],
                           failures=[], title="Synced")


@bp.get("/runs/<int:run_id>")
@login_required
def run_detail(slug: str, run_id: int) -> Any:
    """One run's records as a table, a page at a time (view)."""
    known_experiment(slug, level=Level.VIEW)
    run = find_run(slug, run_id)
    if run is None:
        abort(404, f"Experiment {slug!r} has no run {run_id}.")
    after = _after()
    return render_template("console/run.html", slug=slug, run=run,
                           page=run_records(run, after), after=after)


def _after() -> int:
    raw = request.args.get("after", "-1")
    if not AFTER.fullmatch(raw):
        abort(400, f"'after' must be a record number (a whole number), not {raw[:40]!r}.")
    return int(raw)
