"""The participant's side of study links: ``/l/<token>``, the ``/code`` entry page and the
confirm-first start page. A link only chooses the run's identity; the worker flow
(:func:`..worker.enter_page`) creates or resumes the run and serves its pages."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, current_app, render_template, request

from .. import rate_limits
from ..experiments import registry
from ..extensions import db
from ..models import RateLimit
from ..worker import enter_page, message_page
from .models import LinkType, StudyLink
from .rules import (
    BATCH_FULL,
    BROWSER_ID,
    PARTICIPANT_ID,
    has_run,
    identity_for,
    record_entry,
    refusal,
)
from .store import batch_of, find_link, normalise_code, release_places, take_place

bp = Blueprint("links", __name__)

GUESS_WINDOW = 3600
#: Query parameters of ours, not the entry's own: never kept for the end redirect.
OWN_PARAMS = {"b", "start"}


def _entry_params() -> dict[str, str]:
    source = request.form if request.method == "POST" else request.args
    return {k: v for k, v in source.items() if k not in OWN_PARAMS and k not in ("code",)
            and not k.startswith("_")}


def _no_link() -> tuple[str, int]:
    return message_page("This study link is not valid",
                        "Please check the link you were given, or type your study code on "
                        "the study code page.", 404)


@bp.route("/l/<token>", methods=["GET", "POST"])
def open_link(token: str) -> Any:
    """A study link: a confirm page, a browser check (General Single) or the run."""
    link = find_link(token) if len(token) <= 64 else None
    if link is None or link.token != token:
        return _no_link()
    if link.confirm_first and request.method == "GET":
        return _confirm_page(link, request.args.to_dict())
    return _start(link, request.values.get("b"))


def _confirm_page(link: StudyLink, params: dict[str, str]) -> Any:
    experiment = registry().get(batch_of(link).experiment_slug)
    if experiment is None:
        return _no_link()
    return render_template("links/confirm.html", experiment=experiment, link=link,
                           params=params, start_key=secrets.token_urlsafe(18))


def _start(link: StudyLink, browser_id: str | None) -> Any:
    """Enter the link's run: refused (403) if the link may not start a run and the
    participant has none yet; a run already started may always finish."""
    batch = batch_of(link)
    experiment = registry().get(batch.experiment_slug)
    if experiment is None:
        return _no_link()
    participant = request.values.get("participant", "")
    participant = participant if PARTICIPANT_ID.match(participant) else None
    if (link.type is LinkType.GENERAL_SINGLE and not participant
            and not (browser_id and BROWSER_ID.match(browser_id))):
        return render_template("links/browser_id.html", experiment=experiment, link=link,
                               params=_entry_params())
    start_key = request.form.get("start") if request.method == "POST" else None
    identity = identity_for(link, browser_id, start_key if start_key and
                            BROWSER_ID.match(start_key) else None, participant)
    reason = refusal(link, batch)
    if reason and not has_run(experiment.slug, identity.session_key):
        return message_page("This study link cannot be used now", reason, 403)

    def admit() -> Any:  # decided again where arrivals count one after another
        if take_place(batch, identity.session_key):
            return None
        return message_page("This study link cannot be used now", BATCH_FULL, 403)

    response = enter_page(experiment, identity, admit)
    if record_entry(experiment.slug, identity.session_key, link, _entry_params()) is None:
        release_places([identity.session_key])  # refused or full: no run holds the place
        db.session.commit()
    return response


def _wrong_guesses(ip: str) -> int:
    row = db.session.get(RateLimit, {"key": f"code-guess:{ip}",
                                     "window": rate_limits.current_window(GUESS_WINDOW)})
    return row.count if row else 0


@bp.route("/code", methods=["GET", "POST"])
def code_entry() -> Any:
    """The page where a participant types a study code (printed sheets, phones)."""
    if request.method == "GET":
        return render_template("links/code.html", message=None, code="")
    typed = normalise_code(request.form.get("code", ""))
    ip = request.remote_addr or "?"
    limit = current_app.config["LINK_CODE_GUESSES_PER_IP_PER_HOUR"]
    if _wrong_guesses(ip) >= limit:
        return _code_form("Too many wrong codes were tried from your network. Please try "
                          "again in an hour.", typed, 429)
    link = find_link(typed) if typed else None
    if link is None or link.code != typed:
        rate_limits.count_hit(f"code-guess:{ip}", GUESS_WINDOW)
        db.session.commit()
        return _code_form("There is no study with this code. Please check it and try again.",
                          typed, 404)
    reason = refusal(link, batch_of(link))
    if reason and not has_run(batch_of(link).experiment_slug,
                               identity_for(link, None).session_key):
        return _code_form(reason, typed, 403)
    if link.confirm_first:
        return _confirm_page(link, {})
    return _start(link, None)


def _code_form(message: str, code: str, status: int) -> tuple[str, int]:
    return render_template("links/code.html", message=message, code=code), status
