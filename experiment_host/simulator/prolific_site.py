"""The simulator's participant side of Prolific: a study list that opens a study's external
URL with the three ids, as Prolific does, and the completion page that takes the code back."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, abort, redirect, render_template_string, request

from .prolific_api import state

bp = Blueprint("sim_prolific_site", __name__, url_prefix="/prolific")

COOKIE = "sim_prolific_pid"

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{{ title }} · Prolific simulator</title></head><body>
<h1>{{ title }}</h1>
{% if message %}<p id="message">{{ message }}</p>{% endif %}
{% for study in studies %}
<form method="post" action="/prolific/studies/{{ study.id }}/start" class="study">
  <h2>{{ study.name }}</h2><p>{{ study.description }}</p>
  <p>£{{ '%.2f' % (study.reward / 100) }} · about {{ study.estimated_completion_time }} min ·
     {{ study.places_left }} of {{ study.total_available_places }} places left</p>
  <label>Participant id <input name="participant_id" value="{{ participant_id }}"></label>
  <button type="submit">Take part</button>
</form>
{% else %}{% if not message %}<p>No studies are published.</p>{% endif %}{% endfor %}
{% for submission in active %}
<form method="post" action="/prolific/studies/{{ submission.study_id }}/return" class="return">
  <p>In progress: study {{ submission.study_id }} (submission {{ submission.id }})</p>
  <button type="submit">Return this study</button>
</form>
{% endfor %}
</body></html>"""


def _fill(url: str, participant_id: str, study_id: str, session_id: str) -> str:
    return (url.replace("{{%PROLIFIC_PID%}}", participant_id)
            .replace("{{%STUDY_ID%}}", study_id).replace("{{%SESSION_ID%}}", session_id))


@bp.get("/")
def studies() -> Any:
    """Published studies with places left, as a participant's Prolific study list."""
    with state().lock:
        listed = []
        for study in state().studies.values():
            if study["status"] != "ACTIVE":
                continue
            taken = sum(1 for s in state().submissions.values()
                        if s.study_id == study["id"] and s.status not in ("RETURNED", "TIMED-OUT"))
            listed.append({**study, "places_left": study["total_available_places"] - taken})
        participant_id = request.cookies.get(COOKIE) or secrets.token_hex(12)
        active = [s for s in state().submissions.values()
                  if s.participant_id == participant_id and s.status == "ACTIVE"]
    return render_template_string(PAGE, title="Studies", studies=listed, active=active,
                                  participant_id=participant_id, message=None)


@bp.post("/studies/<study_id>/start")
def start(study_id: str) -> Any:
    """Start a submission and open the study's URL with the participant's three ids."""
    participant_id = (request.form.get("participant_id") or "").strip()
    if not participant_id.isalnum() or len(participant_id) > 64:
        abort(400, "Give a participant id of letters and digits.")
    if study_id not in state().studies:
        abort(404)
    try:
        submission = state().start(study_id, participant_id)
    except LookupError as exc:
        return render_template_string(PAGE, title="Study full", studies=[], active=[],
                                      participant_id="",
                                      message=str(exc)), 409
    url = _fill(state().studies[study_id]["external_study_url"], participant_id, study_id,
                submission.id)
    response = redirect(url, code=303)
    response.set_cookie(COOKIE, participant_id, samesite="Lax", httponly=True)
    return response


@bp.post("/studies/<study_id>/return")
def return_study(study_id: str) -> Any:
    """The participant returns the study (Prolific's "return" button): RETURNED, and the
    subscribed hooks hear of it."""
    try:
        submission = state().return_submission(request.cookies.get(COOKIE, ""), study_id)
    except LookupError as exc:
        return render_template_string(PAGE, title="Nothing to return", studies=[], active=[],
                                      participant_id="", message=str(exc)), 400
    return render_template_string(
        PAGE, title="Study returned", studies=[], active=[], participant_id="",
        message=f"You returned the study; submission {submission.id} is {submission.status}.")


@bp.get("/submissions/complete")
def complete() -> Any:
    """The completion redirect: the participant's submission takes the code's action."""
    code = request.args.get("cc", "")
    participant_id = request.cookies.get(COOKIE, "")
    try:
        submission = state().complete(participant_id, code)
    except LookupError as exc:
        return render_template_string(PAGE, title="Code not accepted", studies=[], active=[],
                                      participant_id="", message=str(exc)), 400
    return render_template_string(
        PAGE, title="Submission received", studies=[], active=[], participant_id="",
        message=f"Thank you. Code {code} recorded; your submission is {submission.status}.")
