"""Worker-facing pages: entry (preview / consent / task / done), consent, assets. The whole
flow is cookie-free (platform ids plus a signed run token), because it runs in an iframe."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from markupsafe import Markup
from werkzeug.wrappers import Response

from . import pilots, tokens
from .experiments import Experiment, registry
from .extensions import db
from .links import open_link_refusal
from .models import Platform, Run, RunStatus
from .platforms import EntryError, Identity, Preview, adapter_for, detect
from .rate_limits import over_limit
from .runs import (
    SUPERSEDED,
    AlreadyTookPart,
    Excluded,
    ExperimentFull,
    OpenElsewhere,
    Refused,
    enter,
    give_consent,
    open_page,
    record_preview,
    run_for_token,
)
from .screening import screening_problem
from .security_headers import mark_task_page

bp = Blueprint("worker", __name__)

HEAD_TAG = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)
VENDOR_PACKAGES = ("jspsych/", "@jspsych/")
HIDDEN_FILES = {"experiment.toml"}


def message_page(title: str, message: str, status: int, **extra: Any) -> tuple[str, int]:
    """A friendly page telling the worker what happened and what to do next."""
    return render_template("worker/message.html", title=title, message=message, **extra), status


def _experiment(slug: str) -> Experiment:
    experiment = registry().get(slug)
    if experiment is None:
        abort(404)
    return experiment


@bp.get("/exp/<slug>")
def entry(slug: str) -> Any:
    """The URL that goes into the ExternalQuestion: preview, or the run's current page."""
    experiment = _experiment(slug)
    adapter = detect(request.args)
    try:
        parsed = adapter.parse_entry(request.args, current_app.config["MTURK_SUBMIT_ORIGINS"])
    except EntryError as error:
        return message_page(error.title, error.message, 400)
    unsupported = adapter.unsupported_reason(experiment)
    if unsupported:
        return message_page("This study is not available here", unsupported, 400)
    if isinstance(parsed, Preview):
        return _preview(experiment)
    refused = open_link_refusal(experiment, parsed)
    return refused if refused is not None else enter_page(experiment, parsed)


def _preview(experiment: Experiment) -> Any:
    """The HIT's preview; a test run's (not counted) offers to accept it as MTurk would."""
    if not pilots.is_test_arrival(experiment.slug, request.args, None):
        record_preview(experiment.slug)
        db.session.commit()
    accept = None
    if pilots.valid_marker(experiment.slug, request.args):
        accept = url_for("worker.entry", slug=experiment.slug,
                         **pilots.test_entry_args(experiment.slug, Platform.MTURK))
    return render_template("worker/preview.html", experiment=experiment, test_accept=accept)


def enter_page(experiment: Experiment, identity: Identity,
               admit: Callable[[], Any] = lambda: None) -> Any:
    """Create, resume or move the identity's run and answer its page (or why not).

    ``admit`` is the caller's own check of a new run (a study link's batch place), run with
    the worker flow's own in the step that decides before the run is created."""
    give_back = adapter_for(identity.platform).give_back
    outcome = enter(
        experiment,
        identity,
        request.headers.get("User-Agent", ""),
        current_app.config["ABANDON_AFTER_MINUTES"],
        admit=lambda: _new_run_refusal(experiment, give_back) or admit(),
        is_test=pilots.is_test_arrival(experiment.slug, request.args, identity),
    )
    if isinstance(outcome, Refused):
        return outcome.answer
    if isinstance(outcome, ExperimentFull):
        return message_page(
            "This study is full",
            "Thank you for your interest! Every place in this study has been taken. "
            f"Please {give_back}.",
            409,
        )
    if isinstance(outcome, OpenElsewhere):
        return message_page("This study is already open",
                            adapter_for(identity.platform).open_elsewhere(), 409)
    if isinstance(outcome, Excluded):
        return message_page(
            "You have already taken part",
            "Our records show you already took part in a related study, and this one is "
            f"for new participants only. Please {give_back} so it does not count against "
            "you. Thank you!",
            403,
        )
    if isinstance(outcome, AlreadyTookPart):
        return message_page(
            "You have already taken part",
            "Our records show you already took part in this study, which allows each person "
            f"once. Please {give_back}. Thank you!",
            403,
        )
    run = outcome.run
    canonical = adapter_for(run.platform).entry_args(run)
    if any(request.args.get(k) != v for k, v in canonical.items()):
        return redirect(url_for("worker.entry", slug=experiment.slug, **canonical), 303)
    return run_page(experiment, run, created=not outcome.resumed)


def _new_run_refusal(experiment: Experiment, give_back: str) -> Any:
    """Why this request may not start a run or move one to its assignment (device
    screening, too many such arrivals from its IP address this hour), as the page to
    answer; None if it may."""
    problem = screening_problem(experiment.config.screening, request.headers.get("User-Agent"),
                                give_back)
    if problem:
        return message_page("This task cannot run on this device", problem, 403)
    if over_limit(f"new-run:{request.remote_addr}",
                  current_app.config["NEW_RUNS_PER_IP_PER_HOUR"], 3600):
        return message_page(
            "Too many new sessions",
            "Too many new sessions were started from your network in the last hour. "
            "Please try again later.",
            429,
        )
    return None


def run_page(experiment: Experiment, run: Run, created: bool = False) -> Any:
    """Render whichever page the run is at: consent, task or done.

    A run in progress gets a fresh page key first (:func:`open_page`; a run ``created`` by
    this request got its first one then): this page's token claims it, and every earlier
    page of the run (another tab, the page before a reload) can no longer save or consent.
    The consent page's token may only record the decision (the API refuses it otherwise):
    the token that saves and completes is issued with the task page, after consent.
    """
    fresh = created or run.status != RunStatus.IN_PROGRESS
    page_key = run.page_key if fresh else open_page(run)
    token = tokens.issue(run.id, page_key or "", run.experiment_slug)
    if run.status == RunStatus.DECLINED:
        return message_page(
            "You chose not to take part",
            f"Thank you. Please {adapter_for(run.platform).give_back}.",
            200,
        )
    if run.status != RunStatus.IN_PROGRESS:
        return done_page(experiment, run, token)
    if experiment.config.consent and run.consented_at is None:
        return render_template(
            "worker/consent.html", experiment=experiment,
            token=tokens.issue(run.id, page_key or "", run.experiment_slug, tokens.CONSENT),
            consent_html=_consent_html(experiment),
            give_back=adapter_for(run.platform).give_back,
        )
    return task_page(experiment, run, token)


def _consent_html(experiment: Experiment) -> Markup:
    consent = experiment.config.consent
    assert consent is not None
    if consent.page:
        return Markup((experiment.folder / consent.page).read_text(encoding="utf-8"))
    return Markup(consent.text or "")


def task_page(experiment: Experiment, run: Run, token: str) -> Response:
    """The experiment's own task.html with our config and client injected into <head>."""
    config = {
        "token": token,
        "page": run.page_key,
        "api": url_for("api.save").rsplit("/", 1)[0],
        "run": {
            "id": run.id,
            "condition": run.condition,
            "saved": run.record_count,
            "next_seq": run.next_seq,
            "status": run.status.value,
        },
        "experiment": {"slug": experiment.slug, "title": experiment.title},
        "done_url": url_for("worker.done", slug=experiment.slug, token=token),
        "heartbeat_seconds": current_app.config["HEARTBEAT_SECONDS"],
        "screening": experiment.config.screening.model_dump(mode="json"),
    }
    head = render_template("worker/task_head.html", experiment=experiment, config=config)
    mark_task_page()
    html = experiment.task_path.read_text(encoding="utf-8")
    match = HEAD_TAG.search(html)
    at = match.end() if match else 0
    return Response(html[:at] + head + html[at:], mimetype="text/html")


def done_page(experiment: Experiment, run: Run, token: str) -> Any:
    """Hand the completed run back to its platform (externalSubmit form, redirect, code)."""
    if run.status != RunStatus.COMPLETED:
        return message_page(
            "Already submitted",
            "This task has already been submitted. Thank you for taking part!",
            200,
        )
    completion = adapter_for(run.platform).completion(run, experiment)
    if run.is_test and not pilots.hands_back(run):  # shown, not sent to the platform
        return render_template("worker/done_test.html", experiment=experiment, run=run,
                               completion=completion)
    return render_template(
        completion.template, experiment=experiment, run=run, **completion.context
    )


def _run_from_token(token: str | None, slug: str) -> Run | tuple[str, int]:
    try:
        run = run_for_token(token)
    except tokens.TokenError as error:
        if error.code != "superseded_token":
            return message_page("This page has expired", error.message + " If the problem "
                                "persists, reopen the task from where you started it.", 401)
        run = None
    if run is None or run.experiment_slug != slug:
        return message_page("This page is out of date", SUPERSEDED + " If you closed it, "
                            "reopen the study from where you started it.", 401)
    return run


@bp.post("/exp/<slug>/consent")
def consent(slug: str) -> Any:
    """Record the consent decision, then go back to the entry URL (post/redirect/get)."""
    experiment = _experiment(slug)
    found = _run_from_token(request.form.get("token"), slug)
    if not isinstance(found, Run):
        return found
    decision = request.form.get("decision")
    if decision not in ("agree", "decline"):
        return message_page("Please choose", "Please press one of the two buttons.", 400)
    give_consent(found, agreed=decision == "agree")
    db.session.commit()
    args = adapter_for(found.platform).entry_args(found)
    return redirect(url_for("worker.entry", slug=experiment.slug, **args), 303)


@bp.get("/exp/<slug>/done")
def done(slug: str) -> Any:
    """The done page the client navigates to after the server confirmed completion."""
    experiment = _experiment(slug)
    found = _run_from_token(request.args.get("token"), slug)
    if not isinstance(found, Run):
        return found
    if found.status == RunStatus.IN_PROGRESS:
        return message_page(
            "Not finished yet",
            "Your answers have not all been saved yet. Please go back to the task.",
            409,
        )
    return done_page(experiment, found, request.args.get("token", ""))


@bp.get("/exp/<slug>/files/<path:filename>")
def experiment_file(slug: str, filename: str) -> Response:
    """Serve the experiment folder's assets (not its config)."""
    experiment = _experiment(slug)
    if Path(filename).name in HIDDEN_FILES or any(p.startswith(".") for p in Path(filename).parts):
        abort(404)
    return send_from_directory(experiment.folder, filename)


@bp.get("/vendor/<path:filename>")
def vendor_file(filename: str) -> Response:
    """Serve jsPsych and its plugins from node_modules (installed from npm at setup)."""
    if not filename.startswith(VENDOR_PACKAGES):
        abort(404)
    return send_from_directory(Path(current_app.config["NODE_MODULES_DIR"]).resolve(), filename)
