"""The simulated MTurk worker site: frames a HIT from another origin as MTurk does and takes
externalSubmit, so the worker flow is tested cross-site in a real browser."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from .state import SimulatorState, new_id

bp = Blueprint("sim_worker", __name__)

PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"


def state() -> SimulatorState:
    return current_app.extensions["mturk_simulator"]


def with_params(url: str, params: dict[str, str]) -> str:
    """Append MTurk's parameters to the ExternalURL, keeping its own query."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def submit_origin() -> str:
    return request.host_url.rstrip("/")


@bp.get("/")
def index() -> Any:
    """All HITs the simulator knows, with links to work them."""
    with state().lock:
        hits = sorted(state().hits.values(), key=lambda h: h.created_at)
    return render_template("simulator/index.html", hits=hits)


@bp.post("/hits")
def create_ad_hoc_hit() -> Any:
    """Create a HIT from a form, for rehearsing an experiment URL by hand."""
    url = request.form.get("url", "").strip()
    if not url.startswith(("http://", "https://")):
        return render_template("simulator/message.html", message="Give an http(s) URL."), 400
    hit = state().create_hit(url, title=request.form.get("title") or url, max_assignments=9)
    return redirect(url_for("sim_worker.hit_page", hit_id=hit.hit_id), 303)


@bp.get("/hits/<hit_id>")
def hit_page(hit_id: str) -> Any:
    """Preview the HIT: the experiment framed with assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE
    and turkSubmitTo, by which the host tells a rehearsal's preview from a worker's."""
    hit = state().hits.get(hit_id) or abort(404)
    params = {"assignmentId": PREVIEW_ASSIGNMENT, "hitId": hit.hit_id,
              "turkSubmitTo": submit_origin()}
    worker_id = request.args.get("workerId") or new_id(14, prefix="A")
    return render_template(
        "simulator/hit.html", hit=hit, frame_src=with_params(hit.external_url, params),
        worker_id=worker_id, assignment=None,
    )


@bp.post("/hits/<hit_id>/accept")
def accept(hit_id: str) -> Any:
    """Accept the HIT as a worker, then show the assignment page."""
    if hit_id not in state().hits:
        abort(404)
    worker_id = request.form.get("workerId", "").strip() or new_id(14, prefix="A")
    try:
        assignment = state().accept(hit_id, worker_id)
    except LookupError as error:
        return render_template("simulator/message.html", message=str(error)), 409
    return redirect(
        url_for("sim_worker.assignment_page", assignment_id=assignment.assignment_id), 303)


@bp.get("/assignments/<assignment_id>")
def assignment_page(assignment_id: str) -> Any:
    """The accepted HIT: the experiment framed with the worker's ids and turkSubmitTo."""
    assignment = state().assignments.get(assignment_id) or abort(404)
    hit = state().hits[assignment.hit_id]
    params = {
        "assignmentId": assignment.assignment_id,
        "hitId": hit.hit_id,
        "turkSubmitTo": submit_origin(),
        "workerId": assignment.worker_id,
    }
    return render_template(
        "simulator/hit.html", hit=hit, frame_src=with_params(hit.external_url, params),
        worker_id=assignment.worker_id, assignment=assignment,
    )


@bp.post("/assignments/<assignment_id>/return")
def return_assignment(assignment_id: str) -> Any:
    """Return the HIT without submitting."""
    if assignment_id not in state().assignments:
        abort(404)
    assignment = state().return_assignment(assignment_id)
    return redirect(url_for("sim_worker.hit_page", hit_id=assignment.hit_id,
                            workerId=assignment.worker_id), 303)


@bp.post("/mturk/externalSubmit")
def external_submit() -> Any:
    """Receive the HIT frame's form post, as MTurk does, and show what arrived."""
    fields = {key: request.form[key] for key in request.form}
    try:
        assignment = state().submit(fields)
    except (LookupError, ValueError) as error:
        return render_template("simulator/message.html", message=str(error)), 400
    return render_template("simulator/submitted.html", assignment=assignment, fields=fields)


@bp.get("/submissions.json")
def submissions() -> Any:
    """Everything submitted so far (for tests and curious researchers)."""
    with state().lock:
        return jsonify(list(state().submissions))
