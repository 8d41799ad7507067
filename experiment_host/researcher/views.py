"""Researcher pages: login, dashboard, experiment page and the streamed downloads. Views
only parse the request, call plain functions and render, so every rule is testable
without a browser; every page and download needs a login or an API token."""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import exists, select
from werkzeug.exceptions import HTTPException

from ..access import Level, check_access, collaborators, visible
from ..audit import audit, audit_entries
from ..experiments import registry
from ..extensions import db
from ..models import Platform, Run, RunStatus, utcnow
from ..reloading import live_registry
from . import charts, dashboard, progress
from .accounts import authenticate, count_failure, too_many_failures
from .auth import (
    client_ip,
    log_in,
    log_out,
    login_limits,
    login_required,
    safe_next,
    wants_html,
)
from .export import ExportOptions
from .filters import FilterError, RunFilter, parse_filter
from .forms import ConfirmForm, GrantForm, LoginForm, LogoutForm, TestRunForm
from .streaming import KINDS, export_text, pseudonym_key

bp = Blueprint("researcher", __name__, url_prefix="/researcher")

#: Content-Type of the downloads, sent as is (``mimetype=`` would add a second charset).
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
MAX_PAGE_DIGITS = 6
PAGE_PATTERN = re.compile(f"[0-9]{{1,{MAX_PAGE_DIGITS}}}")
FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@bp.context_processor
def _layout() -> dict[str, Any]:
    return {"logout_form": LogoutForm(), "researcher": g.get("researcher"),
            "status_labels": dashboard.STATUS_LABELS}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the login form; log in on a right name and password."""
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("researcher/login.html", form=form), 400 if form.errors else 200
    name, ip = form.username.data or "", client_ip()
    limits = login_limits()
    window = limits[2]
    if too_many_failures(name, ip, limits):
        minutes = max(1, window // 60)
        abort(429, f"Too many failed logins. Please wait up to {2 * minutes} minutes.")
    researcher = authenticate(name, form.password.data or "")
    if researcher is None:
        count_failure(name, ip, window)
        db.session.commit()
        form.password.errors = ["Wrong name or password."]
        return render_template("researcher/login.html", form=form), 401
    log_in(researcher)
    db.session.commit()
    return redirect(safe_next(request.args.get("next")), 303)


@bp.post("/logout")
def logout() -> Any:
    """End the session (POST with a CSRF token)."""
    if not LogoutForm().validate_on_submit():
        abort(400, "The logout form expired; please try again.")
    log_out()
    db.session.commit()
    return redirect(url_for("researcher.login"), 303)


@bp.get("/")
@login_required
def index() -> Any:
    """Every experiment with its runs per status and per condition against the quotas."""
    summaries = dashboard.experiment_summaries()
    shown = set(visible(summary.slug for summary in summaries))
    summaries = [summary for summary in summaries if summary.slug in shown]
    return render_template("researcher/index.html", summaries=summaries, statuses=list(RunStatus))


def _known_slug(slug: str) -> None:
    known_experiment(slug)


def known_experiment(slug: str, hosted: bool = False, level: Level = Level.VIEW) -> Level:
    """404 unless the current researcher has access (403 below ``level``) and the experiment
    is hosted, or (unless ``hosted``) has runs in the data. Return the researcher's level."""
    have = check_access(slug, level)
    if slug in registry():
        return have
    if hosted or not db.session.scalar(select(exists().where(Run.experiment_slug == slug))):
        abort(404, f"There is no experiment {slug!r}.")
    return have


def _filter(slug: str) -> RunFilter:
    experiment = registry().get(slug)
    names = experiment.condition_names() if experiment else None
    try:
        return parse_filter(request.args.getlist, names)
    except FilterError as error:
        abort(400, str(error))


def _page_number() -> int:
    raw = request.args.get("page", "1")
    # ASCII digits only (str.isdigit also takes '²'), and few enough for the database.
    if not PAGE_PATTERN.fullmatch(raw) or int(raw) < 1:
        abort(400, f"'page' must be a whole number from 1 to {10**MAX_PAGE_DIGITS - 1}, "
                   f"not {raw[:40]!r}.")
    return int(raw)


@bp.get("/experiments/<slug>")
@login_required
def experiment(slug: str) -> Any:
    """Funnel, timing, drop-off, recent activity and the (filtered, paged) runs table."""
    level = known_experiment(slug)
    run_filter, page = _filter(slug), _page_number()
    runs = dashboard.runs_page(slug, run_filter, page, current_app.config["RUNS_PER_PAGE"])
    if runs is None:
        abort(404, f"Page {page} is past the last page of runs.")
    summary = dashboard.experiment_summaries(slug)[0]
    return render_template(
        "researcher/experiment.html",
        summary=summary,
        funnel=dashboard.funnel(slug),
        median=dashboard.median_completion_seconds(slug),
        **progress_charts(slug, summary),
        recent=dashboard.recent_runs(slug),
        last_seen=dashboard.last_activity(slug),
        runs=runs,
        run_filter=run_filter,
        statuses=list(RunStatus),
        platforms=list(Platform),
        filter_args=run_filter.query_args(),
        **pilot_panel(slug),
        **access_panel(slug, level),
    )


def progress_charts(slug: str, summary: dashboard.ExperimentSummary) -> dict[str, Any]:
    """The charts of completions over time, conditions against quotas, and drop-off."""
    experiment = registry().get(slug)
    rule = experiment.config.dashboard.count_trials_where if experiment else None
    completions = progress.cumulative_completions(slug, utcnow())
    reached, drop_off = progress.trial_progress(slug, rule)
    unit = "trial" if rule else "record"
    return {
        "completions_chart": charts.cumulative_chart(
            completions.bins, completions.hourly, progress.completion_target(experiment),
            "Runs that reached completion over time"),
        "conditions_chart": charts.progress_bars(
            progress.condition_progress(summary.conditions), "Conditions against their quotas"),
        "reached_chart": charts.reached_chart(
            reached, f"Runs that reached each {unit}",
            "trial (as counted by count_trials_where)" if rule else "records saved", unit),
        "trial_rule": rule, "drop_off": drop_off,
    }


def access_panel(slug: str, level: Level) -> dict[str, Any]:
    """What the experiment page shows of access: the level (edit buttons only from edit
    up), and for owners who else has access, the forms and the audit log."""
    owner = level == Level.OWNER
    return {"access_level": level, "can_edit": level.rank >= Level.EDIT.rank,
            "registry_version": live_registry().version,
            "collaborators": collaborators(slug) if owner else [],
            "audit_entries": audit_entries(slug, 50) if owner else [],
            "grant_form": GrantForm() if owner else None}


def pilot_panel(slug: str) -> dict[str, Any]:
    """What the experiment page's test-runs panel shows: counts, the latest, the forms."""
    from ..pilots import latest_test_runs, test_run_counts

    return {"test_counts": test_run_counts(slug),
            "test_runs": latest_test_runs(slug, current_app.config["RUNS_PER_PAGE"]),
            "test_run_form": TestRunForm(), "purge_form": ConfirmForm()}


def _flag(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return default
    if raw.lower() not in FLAGS:
        abort(400, f"'{name}' must be 1 or 0, not {raw!r}.")
    return FLAGS[raw.lower()]


def export_options() -> ExportOptions:
    """Export options from the query string, defaulting to the project's settings."""
    config = current_app.config
    worker_ids = request.args.get("worker_ids", config["EXPORT_WORKER_IDS"])
    if worker_ids not in ("pseudonym", "raw"):
        abort(400, f"'worker_ids' must be 'pseudonym' or 'raw', not {worker_ids!r}.")
    return ExportOptions(
        pseudonym_key=pseudonym_key(config),
        pseudonymize=worker_ids == "pseudonym",
        escape_formulas=_flag("escape_formulas", True),
        checkpoints=_flag("checkpoints", False),
    )


@bp.get("/export/<slug>/<kind>")
@login_required
def export(slug: str, kind: str) -> Any:
    """Stream runs.csv, trials.csv or trials.jsonl; the download starts at once."""
    if kind not in KINDS:
        abort(404, f"Unknown export {kind!r}; use one of {', '.join(KINDS)}.")
    _known_slug(slug)
    run_filter, options = _filter(slug), export_options()
    audit("export", slug, f"{kind} {request.query_string.decode(errors='replace')[:500]}")
    db.session.commit()
    chunks = export_text(db.engine, kind, slug, run_filter, options)
    db.session.close()  # the export reads on its own connection; do not hold this one open
    response = Response(chunks, content_type=MEDIA_TYPES[kind.split(".")[1]])
    response.headers["Content-Disposition"] = f'attachment; filename="{slug}-{kind}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # let nginx pass the stream through
    return response


@bp.errorhandler(HTTPException)
def error_page(error: HTTPException) -> Any:
    """A page (or, for scripts, a line of text) saying what went wrong, with its status."""
    db.session.rollback()
    status = error.code or 500
    message = error.description or error.name
    headers = error.get_headers()
    if not wants_html() and status in (400, 401, 403, 404, 429):
        return message + "\n", status, {**dict(headers), "Content-Type": "text/plain"}
    page = render_template("researcher/message.html", title=error.name, message=message)
    return page, status, [h for h in headers if h[0] != "Content-Type"]
