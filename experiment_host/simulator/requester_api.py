"""The simulator's requester API: MTurk's AWS JSON 1.1 protocol on ``POST /``, so the real
boto3 client is exercised (signing, retries, error parsing); faults can be injected
(``POST /_simulator/faults``) to test how our commands survive MTurk's."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from . import requester_ops as ops
from . import requester_workers as workers
from .requester_ops import Params, SimError
from .state import Faults, SimulatorState
from .validation import describe, operation, validation_errors

bp = Blueprint("sim_requester", __name__)

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
CONTENT_TYPE = "application/x-amz-json-1.1"

Operation = Callable[[SimulatorState, Params], Params]
OPERATIONS: dict[str, Operation] = {
    "CreateHIT": ops.create_hit,
    "GetHIT": ops.get_hit,
    "ListHITs": ops.list_hits,
    "ListAssignmentsForHIT": ops.list_assignments_for_hit,
    "GetAssignment": ops.get_assignment,
    "ApproveAssignment": ops.approve_assignment,
    "RejectAssignment": ops.reject_assignment,
    "UpdateExpirationForHIT": ops.update_expiration_for_hit,
    "CreateAdditionalAssignmentsForHIT": ops.create_additional_assignments_for_hit,
    "DeleteHIT": ops.delete_hit,
    "GetAccountBalance": workers.get_account_balance,
    "SendBonus": workers.send_bonus,
    "ListBonusPayments": workers.list_bonus_payments,
    "CreateQualificationType": workers.create_qualification_type,
    "ListQualificationTypes": workers.list_qualification_types,
    "AssociateQualificationWithWorker": workers.associate_qualification_with_worker,
    "ListWorkersWithQualificationType": workers.list_workers_with_qualification_type,
    "NotifyWorkers": workers.notify_workers,
}


def state() -> SimulatorState:
    return current_app.extensions["mturk_simulator"]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    raise TypeError(f"cannot encode {type(value).__name__}")


def _answer(body: Params, status: int = 200) -> Response:
    return Response(json.dumps(body, default=_encode), status=status, content_type=CONTENT_TYPE,
                    headers={"x-amzn-RequestId": ops.new_request_id()})


def _error(error: SimError) -> Response:
    body: Params = {"__type": error.kind, "Message": error.message}
    if error.kind == "ThrottlingException":
        body = {"__type": error.kind, "message": error.message}
    if error.turk_code:
        body["TurkErrorCode"] = error.turk_code
    return _answer(body, error.status)


def _take_fault(name: str, op: str) -> bool:
    faults = state().faults
    if getattr(faults, name) <= 0 or (faults.operations and op not in faults.operations):
        return False
    setattr(faults, name, getattr(faults, name) - 1)
    return True


REFUSABLE = ("AssignmentId", "HITId", "WorkerId", "QualificationTypeId")


def _refused(op: str, params: Params) -> SimError | None:
    """MTurk's RequestError when the call names an id listed in ``faults.refuse``."""
    faults = state().faults
    if faults.operations and op not in faults.operations:
        return None
    for member in REFUSABLE:
        value = params.get(member)
        if isinstance(value, str) and value in faults.refuse:
            return SimError(f"The request was refused for {member} {value}.",
                            faults.refuse[value])
    return None


def _parse() -> tuple[str, Operation, Params]:
    target = request.headers.get("X-Amz-Target", "")
    name = target.removeprefix(TARGET_PREFIX)
    handler = OPERATIONS.get(name)
    model = operation(name)
    if not target.startswith(TARGET_PREFIX) or handler is None or model is None:
        raise SimError(f"Operation {target or '(none)'} is not supported by the simulator.",
                       kind="UnknownOperationException")
    try:
        params = json.loads(request.get_data() or b"{}")
    except ValueError as exc:
        raise SimError("The request body is not JSON.", kind="SerializationException") from exc
    errors = validation_errors(model, params)
    if errors:
        raise SimError(describe(errors), kind="ValidationException")
    return name, handler, params


def _call(name: str, handler: Operation, params: Params) -> Response:
    with state().lock:
        state().calls[name] += 1
        if _take_fault("throttle_next", name):
            raise SimError("Rate exceeded", kind="ThrottlingException")
        if _take_fault("fail_next", name):
            raise SimError("We encountered an internal error. Please try again.",
                           kind="ServiceFault", status=500)
        refused = _refused(name, params)
        if refused is not None:
            raise refused
        result = handler(state(), params)
        if _take_fault("lose_next", name):
            raise SimError("We encountered an internal error. Please try again.",
                           kind="ServiceFault", status=500)
    return _answer(result)


# Requests are dispatched on ``X-Amz-Target: MTurkRequesterServiceV20170117.<Operation>``,
# validated against botocore's service model, and answered with MTurk's shapes and errors.
# The SigV4 signature is not checked: any AWS credentials are accepted. Faults
# (``SimulatorState.faults``): throttling, server faults, lost responses (the change is
# applied, the answer is a fault), added latency, and a RequestError for every call naming
# one id (``refuse``), as MTurk answers for one assignment, HIT, worker or qualification type
# it will not act on.
@bp.post("/")
def dispatch() -> Response:
    """Answer one requester API call."""
    latency = state().faults.latency_seconds
    if latency:
        time.sleep(latency)
    try:
        name, handler, params = _parse()
        return _call(name, handler, params)
    except SimError as error:
        return _error(error)


@bp.post("/_simulator/faults")
def set_faults() -> Any:
    """Set fault injection from JSON, e.g. ``{"throttle_next": 3, "latency_seconds": 0.1}``."""
    body = request.get_json(force=True, silent=True) or {}
    known = {f.name for f in fields(Faults)}
    unknown = set(body) - known
    if unknown:
        return jsonify(error=f"unknown fault settings: {sorted(unknown)}"), 400
    if "operations" in body:
        body["operations"] = frozenset(body["operations"])
    if not isinstance(body.get("refuse", {}), dict):
        return jsonify(error="refuse maps ids to TurkErrorCodes"), 400
    with state().lock:
        state().faults = replace(state().faults, **body)
        current = {f.name: getattr(state().faults, f.name) for f in fields(Faults)}
    current["operations"] = sorted(current["operations"])
    return jsonify(current)


@bp.get("/_simulator/requester.json")
def requester_state() -> Any:
    """Balance, bonuses and calls so far (for tests and curious researchers)."""
    with state().lock:
        return jsonify(
            balance=f"{state().balance:.2f}",
            bonuses=[{"assignment_id": b.assignment_id, "worker_id": b.worker_id,
                      "amount": f"{b.amount:.2f}", "reason": b.reason}
                     for b in state().bonuses],
            notifications=state().notifications,
            calls=dict(state().calls),
        )
