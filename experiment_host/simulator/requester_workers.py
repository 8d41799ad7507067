"""Requester operations on workers and money (bonuses, balance, qualifications, messages),
so the money commands are exercised against MTurk's rules without spending any."""

from __future__ import annotations

from decimal import Decimal

from .requester_ops import (
    Params,
    SimError,
    charge,
    get_assignment_or_fail,
    page,
    refuse_reused_token,
    remember_token,
)
from .state import SimBonus, SimQualificationType, SimulatorState, new_id, now

NOTIFY_LIMIT = 100


def get_account_balance(state: SimulatorState, params: Params) -> Params:
    return {"AvailableBalance": f"{state.balance:.2f}", "OnHoldBalance": "0.00"}


def send_bonus(state: SimulatorState, params: Params) -> Params:
    refuse_reused_token(state, "SendBonus", params)
    assignment = get_assignment_or_fail(state, params["AssignmentId"])
    if assignment.worker_id != params["WorkerId"]:
        raise SimError(f"Assignment {assignment.assignment_id} was not worked by "
                       f"{params['WorkerId']}.", "AWS.MechanicalTurk.InvalidParameterValue")
    if assignment.status not in ("Submitted", "Approved", "Rejected"):
        raise SimError(f"Assignment {assignment.assignment_id} is {assignment.status}; only "
                       "submitted assignments can get a bonus.",
                       "AWS.MechanicalTurk.InvalidAssignmentState")
    amount = Decimal(params["BonusAmount"])
    if amount <= 0:
        raise SimError("The bonus amount must be positive.",
                       "AWS.MechanicalTurk.InvalidParameterValue")
    charge(state, amount, 1, 1)
    state.bonuses.append(SimBonus(params["WorkerId"], assignment.assignment_id, amount,
                                  params["Reason"]))
    remember_token(state, "SendBonus", params, new_id(30))
    return {}


def list_bonus_payments(state: SimulatorState, params: Params) -> Params:
    if not params.get("HITId") and not params.get("AssignmentId"):
        raise SimError("Give either HITId or AssignmentId.",
                       "AWS.MechanicalTurk.InvalidParameterValue")
    wanted = [
        b for b in state.bonuses
        if b.assignment_id == params.get("AssignmentId", b.assignment_id)
        and state.assignments[b.assignment_id].hit_id == params.get(
            "HITId", state.assignments[b.assignment_id].hit_id)
    ]
    chunk, paging = page(wanted, params)
    payments = [{"WorkerId": b.worker_id, "BonusAmount": f"{b.amount:.2f}",
                 "AssignmentId": b.assignment_id, "Reason": b.reason,
                 "GrantTime": b.granted_at} for b in chunk]
    return {"BonusPayments": payments, **paging}


def _qualification_type_view(q: SimQualificationType) -> Params:
    return {"QualificationTypeId": q.qualification_type_id, "CreationTime": q.created_at,
            "Name": q.name, "Description": q.description, "Keywords": q.keywords,
            "QualificationTypeStatus": q.status, "IsRequestable": False, "AutoGranted": False}


def create_qualification_type(state: SimulatorState, params: Params) -> Params:
    if any(q.name == params["Name"] for q in state.qualification_types.values()):
        raise SimError(f"You have already created a QualificationType with this name. A "
                       f"QualificationType's name must be unique: {params['Name']}",
                       "AWS.MechanicalTurk.QualificationTypeAlreadyExists")
    qualification = SimQualificationType(
        new_id(30, prefix="3"), params["Name"], params["Description"],
        params["QualificationTypeStatus"], params.get("Keywords", ""))
    state.qualification_types[qualification.qualification_type_id] = qualification
    return {"QualificationType": _qualification_type_view(qualification)}


def list_qualification_types(state: SimulatorState, params: Params) -> Params:
    query = (params.get("Query") or "").lower()
    found = [q for q in state.qualification_types.values() if query in q.name.lower()]
    chunk, paging = page(found, params)
    return {"QualificationTypes": [_qualification_type_view(q) for q in chunk], **paging}


def _qualification_type_or_fail(state: SimulatorState, type_id: str) -> SimQualificationType:
    qualification = state.qualification_types.get(type_id)
    if qualification is None:
        raise SimError(f"QualificationType {type_id} does not exist.",
                       "AWS.MechanicalTurk.QualificationTypeDoesNotExist")
    return qualification


def associate_qualification_with_worker(state: SimulatorState, params: Params) -> Params:
    _qualification_type_or_fail(state, params["QualificationTypeId"])
    key = (params["QualificationTypeId"], params["WorkerId"])
    state.worker_qualifications[key] = params.get("IntegerValue", 1)
    if params.get("SendNotification", True):
        state.notifications.append({"WorkerId": params["WorkerId"],
                                    "Subject": "Qualification granted", "MessageText": ""})
    return {}


def list_workers_with_qualification_type(state: SimulatorState, params: Params) -> Params:
    type_id = params["QualificationTypeId"]
    _qualification_type_or_fail(state, type_id)
    found = sorted((w, v) for (t, w), v in state.worker_qualifications.items() if t == type_id)
    chunk, paging = page(found, params)
    rows = [{"QualificationTypeId": type_id, "WorkerId": worker, "IntegerValue": value,
             "Status": "Granted", "GrantTime": now()} for worker, value in chunk]
    return {"Qualifications": rows, **paging}


def notify_workers(state: SimulatorState, params: Params) -> Params:
    workers = params["WorkerIds"]
    if len(workers) > NOTIFY_LIMIT:
        raise SimError(f"You can notify at most {NOTIFY_LIMIT} workers per call.",
                       "AWS.MechanicalTurk.InvalidParameterValue")
    known = {a.worker_id for a in state.assignments.values()}
    failures = []
    for worker in workers:
        if worker not in known:
            failures.append({"NotifyWorkersFailureCode": "HardFailure", "WorkerId": worker,
                             "NotifyWorkersFailureMessage": f"Worker {worker} has not worked "
                                                            "for this requester."})
            continue
        state.notifications.append({"WorkerId": worker, "Subject": params["Subject"],
                                    "MessageText": params["MessageText"]})
    return {"NotifyWorkersFailureStatuses": failures}
