"""The simulator's Prolific API under ``/prolific/api/v1``: the documented paths, methods and
body shapes, checked strictly and answered with Prolific's error shape, plus injected faults
(``POST /prolific/_simulator/faults``) to prove the retries and the bonus ledger."""

from __future__ import annotations

import time
from dataclasses import fields, replace
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from .prolific_state import STUDY_TRANSITIONS, ProlificFaults, ProlificState, fee_of, new_id

bp = Blueprint("sim_prolific_api", __name__, url_prefix="/prolific")

REJECTION_CATEGORIES = ("TOO_QUICKLY", "TOO_SLOWLY", "FAILED_INSTRUCTIONS", "INCOMP_LONGITUDINAL",
                        "FAILED_CHECK", "LOW_EFFORT", "MALINGERING", "NO_CODE", "BAD_CODE",
                        "NO_DATA", "UNSUPP_DEVICE", "OTHER")
DEVICES = ("desktop", "tablet", "mobile")
CODE_TYPES = ("COMPLETED", "FAILED_ATTENTION_CHECK", "FOLLOW_UP_STUDY", "GIVE_BONUS",
              "INCOMPATIBLE_DEVICE", "NO_CONSENT", "OTHER", "FIXED_SCREENOUT")
CODE_ACTIONS = ("AUTOMATICALLY_APPROVE", "MANUALLY_REVIEW", "ADD_TO_PARTICIPANT_GROUP",
                "REMOVE_FROM_PARTICIPANT_GROUP", "REQUEST_RETURN", "DYNAMIC_PAYMENT",
                "FIXED_SCREEN_OUT_PAYMENT")
#: Required fields of a new study and their JSON types (Prolific's "Create a draft study").
STUDY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str, "description": str, "external_study_url": str, "prolific_id_option": str,
    "completion_codes": list, "total_available_places": int, "estimated_completion_time": int,
    "reward": int,
}
OPTIONAL_STUDY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "internal_name": str, "maximum_allowed_time": int, "device_compatibility": list,
    "filters": list, "peripheral_requirements": list, "project": str,
}


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: Any) -> None:
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail


def state() -> ProlificState:
    return current_app.extensions["prolific_simulator"]


def _error(error: ApiError) -> Response:
    body = {"error": {"status": error.status, "error_code": error.status * 1000,
                      "title": error.title, "detail": error.detail,
                      "additional_information": "/api/v1/errors/", "traceback": None,
                      "interactive": False}}
    response = jsonify(body)
    response.status_code = error.status
    if error.status == 429:
        response.headers["Retry-After"] = str(state().faults.retry_after)
    return response


def invalid(detail: dict[str, list[str]]) -> ApiError:
    return ApiError(400, "Invalid request", detail)


def body_of(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body, refused unless it has every required field of the right type."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid({"body": ["A JSON object is required."]})
    problems: dict[str, list[str]] = {}
    for name in required:
        if name not in body:
            problems[name] = ["This field is required."]
    for name, kind in {**required, **(optional or {})}.items():
        value = body.get(name)
        if name in body and (not isinstance(value, kind)
                             or (isinstance(value, bool) and kind is not bool)):
            problems[name] = [f"Expected {getattr(kind, '__name__', kind)}."]
    if problems:
        raise invalid(problems)
    return body


def _take(name: str) -> bool:
    faults = state().faults
    if getattr(faults, name) <= 0 or (faults.paths and not any(p in request.path
                                                               for p in faults.paths)):
        return False
    setattr(faults, name, getattr(faults, name) - 1)
    return True


@bp.before_request
def _gate() -> Response | None:
    """Latency, token check and the throttle / fail faults, before any change."""
    if not request.path.startswith("/prolific/api/"):
        return None
    if state().faults.latency_seconds:
        time.sleep(state().faults.latency_seconds)
    with state().lock:
        state().calls[f"{request.method} {request.path}"] += 1
        if not request.headers.get("Authorization", "").startswith("Token "):
            return _error(ApiError(401, "Unauthorized", "Invalid token."))
        if _take("throttle_next"):
            return _error(ApiError(429, "Too many requests", "Request was throttled."))
        if _take("fail_next"):
            return _error(ApiError(500, "Server error", "Something went wrong."))
    return None


@bp.after_request
def _lose(response: Response) -> Response:
    """``lose_next``: the call was applied; the answer is lost (a 500 instead)."""
    if request.path.startswith("/prolific/api/") and response.status_code < 400:
        with state().lock:
            if _take("lose_next"):
                return _error(ApiError(500, "Server error", "Something went wrong."))
    return response


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return _error(error)


def study_or_404(study_id: str) -> dict[str, Any]:
    study = state().studies.get(study_id)
    if study is None:
        raise ApiError(404, "Not found", f"Study {study_id} not found.")
    return study


def study_view(study: dict[str, Any]) -> dict[str, Any]:
    cost = state().study_cost(study)
    taken = [s for s in state().submissions.values() if s.study_id == study["id"]]
    return {**study, "total_cost": cost["total"], "fees_per_submission": fee_of(study["reward"]),
            "vat": cost["vat"], "places_taken": len(taken), "currency_code": "GBP"}


def check_study(body: dict[str, Any]) -> None:
    problems: dict[str, list[str]] = {}
    if body["prolific_id_option"] not in ("question", "url_parameters", "not_required"):
        problems["prolific_id_option"] = ["Not a valid choice."]
    if body["reward"] < 1 or body["total_available_places"] < 1:
        problems["reward"] = ["reward and total_available_places must be positive."]
    if not set(body.get("device_compatibility", [])) <= set(DEVICES):
        problems["device_compatibility"] = [f"Choose from {', '.join(DEVICES)}."]
    for code in body["completion_codes"]:
        if (not isinstance(code, dict) or not isinstance(code.get("code"), str)
                or code.get("code_type") not in CODE_TYPES
                or not isinstance(code.get("actions"), list)
                or any(a.get("action") not in CODE_ACTIONS for a in code["actions"])):
            problems["completion_codes"] = ["Each needs code, code_type and actions."]
    for item in body.get("filters", []):
        if not isinstance(item, dict) or "filter_id" not in item or not (
                "selected_values" in item or "selected_range" in item):
            problems["filters"] = ["Each needs filter_id and selected_values or selected_range."]
    if problems:
        raise invalid(problems)


@bp.get("/api/v1/users/me/")
def me() -> Any:
    return jsonify(id=state().user_id, name="Simulated Researcher", currency_code="GBP",
                   balance=state().balance_cents, available_balance=state().balance_cents)


@bp.post("/api/v1/studies/")
def create_study() -> Any:
    body = body_of(STUDY_FIELDS, OPTIONAL_STUDY_FIELDS)
    check_study(body)
    with state().lock:
        study = {**body, "id": new_id(), "status": "UNPUBLISHED"}
        state().studies[study["id"]] = study
        return jsonify(study_view(study)), 201


@bp.get("/api/v1/studies/")
def list_studies() -> Any:
    with state().lock:
        results = [study_view(s) for s in state().studies.values()]
    return jsonify(results=results, _links={"next": {"href": None}}, meta={"count": len(results)})


@bp.get("/api/v1/studies/<study_id>/")
def get_study(study_id: str) -> Any:
    with state().lock:
        return jsonify(study_view(study_or_404(study_id)))


@bp.patch("/api/v1/studies/<study_id>/")
def update_study(study_id: str) -> Any:
    body = body_of({"total_available_places": int})
    with state().lock:
        study = study_or_404(study_id)
        extra = (body["total_available_places"] - study["total_available_places"]) * study["reward"]
        if body["total_available_places"] < study["total_available_places"]:
            raise invalid({"total_available_places": ["Places can only be increased."]})
        if study["status"] != "UNPUBLISHED":
            charge = extra + fee_of(extra)
            if charge > state().balance_cents:
                raise ApiError(400, "Insufficient balance", "Insufficient balance in workspace.")
            state().balance_cents -= charge
        study["total_available_places"] = body["total_available_places"]
        return jsonify(study_view(study))


@bp.post("/api/v1/studies/<study_id>/transition/")
def transition_study(study_id: str) -> Any:
    body = body_of({"action": str})
    with state().lock:
        study = study_or_404(study_id)
        if body["action"] not in STUDY_TRANSITIONS:
            raise invalid({"action": [f"Choose from {', '.join(STUDY_TRANSITIONS)}."]})
        sources, target = STUDY_TRANSITIONS[body["action"]]
        if study["status"] not in sources:
            raise ApiError(400, "Invalid transition",
                           f"Cannot {body['action']} a study that is {study['status']}.")
        if body["action"] == "PUBLISH":
            total = state().study_cost(study)["total"]
            if total > state().balance_cents:
                raise ApiError(400, "Insufficient balance", "Insufficient balance in workspace.")
            state().balance_cents -= total
        study["status"] = target
        return jsonify(study_view(study))


@bp.post("/_simulator/faults")
def set_faults() -> Any:
    """Set faults from JSON, e.g. ``{"throttle_next": 2, "paths": ["/pay/"]}``."""
    body = request.get_json(force=True, silent=True) or {}
    unknown = set(body) - {f.name for f in fields(ProlificFaults)}
    if unknown:
        return jsonify(error=f"unknown fault settings: {sorted(unknown)}"), 400
    if "paths" in body:
        body["paths"] = tuple(body["paths"])
    with state().lock:
        state().faults = replace(state().faults, **body)
        return jsonify({f.name: getattr(state().faults, f.name) for f in fields(ProlificFaults)})


@bp.post("/_simulator/submissions/<submission_id>/time-out")
def time_out(submission_id: str) -> Any:
    """Make an active submission time out (as Prolific does past the maximum time)."""
    try:
        submission = state().time_out(submission_id)
    except LookupError as exc:
        return jsonify(error=str(exc)), 404
    return jsonify(submission.as_api())


@bp.post("/_simulator/bonus-payments-shape")
def bonus_payments_shape() -> Any:
    """``{"shape": "objects"}`` lists ``bonus_payments`` as objects with an amount;
    ``"integers"`` (the default) as amounts in minor units."""
    shape = (request.get_json(force=True, silent=True) or {}).get("shape")
    if shape not in ("objects", "integers"):
        return jsonify(error='shape must be "objects" or "integers"'), 400
    with state().lock:
        state().bonus_objects = shape == "objects"
    return jsonify(shape=shape)


@bp.get("/_simulator/ledger.json")
def ledger() -> Any:
    """Every payment made, balance, messages and calls (for tests and curious researchers)."""
    with state().lock:
        return jsonify(balance=state().balance_cents, payments=state().payments,
                       messages=state().messages, calls=dict(state().calls))
