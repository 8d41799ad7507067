"""Requester operations on HITs and assignments, answered as MTurk answers them, under the
state's lock so concurrent boto3 calls see one consistent simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from ..mturk.fees import fee_per_payment
from .state import SimAssignment, SimHit, SimulatorState, new_id, now

ANSWER_NS = ("http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
             "2005-10-01/QuestionFormAnswers.xsd")
SYSTEM_QUALIFICATIONS = {"00000000000000000071", "000000000000000000L0",
                         "00000000000000000040", "00000000000000000060"}
Params = dict[str, Any]


class SimError(Exception):
    """An error answer: ``kind`` is the ``__type``, ``turk_code`` MTurk's TurkErrorCode."""

    def __init__(self, message: str, turk_code: str | None = None,
                 kind: str = "RequestError", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.turk_code, self.kind, self.status = message, turk_code, kind, status


def get_hit_or_fail(state: SimulatorState, hit_id: str) -> SimHit:
    """The HIT, or MTurk's HITDoesNotExist error."""
    hit = state.hits.get(hit_id)
    if hit is None:
        raise SimError(f"Hit {hit_id} does not exist.", "AWS.MechanicalTurk.HITDoesNotExist")
    return hit


def get_assignment_or_fail(state: SimulatorState, assignment_id: str) -> SimAssignment:
    """The assignment, or MTurk's AssignmentDoesNotExist error."""
    assignment = state.assignments.get(assignment_id)
    if assignment is None:
        raise SimError(f"Assignment {assignment_id} does not exist.",
                       "AWS.MechanicalTurk.AssignmentDoesNotExist")
    return _auto_approve(state, assignment)


def _auto_approve(state: SimulatorState, assignment: SimAssignment) -> SimAssignment:
    hit = state.hits.get(assignment.hit_id)
    if (hit and assignment.status == "Submitted" and assignment.submitted_at
            and assignment.submitted_at + timedelta(seconds=hit.auto_approval_delay_seconds)
            <= now()):
        assignment.status, assignment.approved_at = "Approved", now()
    return assignment


def assignments_of(state: SimulatorState, hit_id: str) -> list[SimAssignment]:
    """The HIT's assignments in acceptance order, auto-approving overdue ones."""
    found = [a for a in state.assignments.values() if a.hit_id == hit_id]
    return [_auto_approve(state, a) for a in sorted(found, key=lambda a: a.accepted_at)]


def charge(state: SimulatorState, amount: Decimal, assignments: int, count: int) -> None:
    """Take ``count`` payments of ``amount`` plus Amazon's fee from the balance, or refuse."""
    total = (amount + fee_per_payment(amount, assignments)) * count
    if total > state.balance:
        raise SimError(f"This Requester has insufficient funds in their account to complete "
                       f"this transaction (needs ${total}, has ${state.balance}).",
                       "AWS.MechanicalTurk.InsufficientFunds")
    state.balance -= total


def remember_token(state: SimulatorState, op: str, params: Params, result_id: str) -> None:
    """Keep the UniqueRequestToken of a request that succeeded (MTurk: for 24 hours)."""
    token = params.get("UniqueRequestToken")
    if token:
        state.request_tokens[f"{op}:{token}"] = result_id


def refuse_reused_token(state: SimulatorState, op: str, params: Params) -> None:
    """Answer MTurk's error for a UniqueRequestToken that already did its work."""
    token = params.get("UniqueRequestToken")
    done = state.request_tokens.get(f"{op}:{token}") if token else None
    if done is None:
        return
    if op == "CreateHIT":
        raise SimError(f"There is already a HIT which exists with the same UniqueRequestToken "
                       f"(HITId {done}).", "AWS.MechanicalTurk.HitAlreadyExists")
    raise SimError(f"The UniqueRequestToken {token} has already been used (request {done}).",
                   "AWS.MechanicalTurk.DuplicateRequest")


def hit_counts(state: SimulatorState, hit: SimHit) -> dict[str, int]:
    """Pending, available and completed assignment counts as MTurk reports them."""
    live = [a for a in assignments_of(state, hit.hit_id) if a.status != "Returned"]
    pending = sum(1 for a in live if a.status == "Accepted")
    completed = sum(1 for a in live if a.status in ("Approved", "Rejected"))
    available = 0 if hit.expires_at <= now() else max(hit.max_assignments - len(live), 0)
    return {"NumberOfAssignmentsPending": pending, "NumberOfAssignmentsAvailable": available,
            "NumberOfAssignmentsCompleted": completed}


def hit_status(state: SimulatorState, hit: SimHit) -> str:
    """Assignable, Unassignable or Reviewable, from the HIT's assignments and expiry."""
    counts = hit_counts(state, hit)
    if counts["NumberOfAssignmentsAvailable"] > 0:
        return "Assignable"
    return "Unassignable" if counts["NumberOfAssignmentsPending"] else "Reviewable"


def hit_view(state: SimulatorState, hit: SimHit) -> Params:
    """The HIT as the API returns it."""
    view: Params = {
        "HITId": hit.hit_id, "HITTypeId": hit.hit_type_id, "HITGroupId": hit.hit_group_id,
        "CreationTime": hit.created_at, "Title": hit.title, "Description": hit.description,
        "Question": hit.question, "Keywords": hit.keywords, "HITStatus": hit_status(state, hit),
        "MaxAssignments": hit.max_assignments, "Reward": hit.reward,
        "AutoApprovalDelayInSeconds": hit.auto_approval_delay_seconds,
        "Expiration": hit.expires_at,
        "AssignmentDurationInSeconds": hit.assignment_duration_seconds,
        "QualificationRequirements": hit.qualification_requirements,
        "HITReviewStatus": "NotReviewed", **hit_counts(state, hit),
    }
    if hit.requester_annotation is not None:
        view["RequesterAnnotation"] = hit.requester_annotation
    return view


def answer_xml(fields: dict[str, str]) -> str:
    """QuestionFormAnswers XML: one QuestionIdentifier/FreeText pair per submitted field."""
    answers = "".join(
        f"<Answer><QuestionIdentifier>{escape(k)}</QuestionIdentifier>"
        f"<FreeText>{escape(v)}</FreeText></Answer>"
        for k, v in fields.items()
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><QuestionFormAnswers xmlns="{ANSWER_NS}">' \
           f"{answers}</QuestionFormAnswers>"


def assignment_view(state: SimulatorState, a: SimAssignment) -> Params:
    """The assignment as the API returns it."""
    hit = state.hits.get(a.hit_id)
    view: Params = {
        "AssignmentId": a.assignment_id, "WorkerId": a.worker_id, "HITId": a.hit_id,
        "AssignmentStatus": a.status, "AcceptTime": a.accepted_at,
        "Answer": answer_xml(a.answer_fields),
    }
    if hit is not None:
        view["Deadline"] = a.accepted_at + timedelta(seconds=hit.assignment_duration_seconds)
    optional = {"SubmitTime": a.submitted_at, "ApprovalTime": a.approved_at,
                "RejectionTime": a.rejected_at, "RequesterFeedback": a.requester_feedback}
    view.update({k: v for k, v in optional.items() if v is not None})
    if a.submitted_at and hit is not None:
        view["AutoApprovalTime"] = a.submitted_at + timedelta(
            seconds=hit.auto_approval_delay_seconds)
    return view


def page(items: list[Any], params: Params) -> tuple[list[Any], Params]:
    """One page of ``items`` after ``NextToken``, and the NextToken for the next one."""
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or 10)
    chunk = items[start:start + size]
    more = {"NextToken": str(start + size)} if start + size < len(items) else {}
    return chunk, {"NumResults": len(chunk), **more}


def check_qualification_ids(state: SimulatorState, requirements: list[Params]) -> None:
    """Refuse requirements naming a qualification type that does not exist."""
    for requirement in requirements:
        type_id = requirement["QualificationTypeId"]
        if type_id not in SYSTEM_QUALIFICATIONS and type_id not in state.qualification_types:
            raise SimError(f"QualificationType {type_id} does not exist.",
                           "AWS.MechanicalTurk.QualificationTypeDoesNotExist")


def create_hit(state: SimulatorState, params: Params) -> Params:
    refuse_reused_token(state, "CreateHIT", params)
    requirements = params.get("QualificationRequirements", [])
    check_qualification_ids(state, requirements)
    question = params.get("Question", "")
    url = question.split("<ExternalURL>")[-1].split("</ExternalURL>")[0].strip()
    url = url.replace("&amp;", "&")
    max_assignments = params.get("MaxAssignments", 1)
    charge(state, Decimal(params["Reward"]), max_assignments, max_assignments)
    hit = state.create_hit(
        url, title=params["Title"], description=params["Description"],
        reward=params["Reward"], max_assignments=max_assignments,
        assignment_duration_seconds=params["AssignmentDurationInSeconds"],
        auto_approval_delay_seconds=params.get("AutoApprovalDelayInSeconds", 2592000),
        expires_at=now() + timedelta(seconds=params["LifetimeInSeconds"]),
        keywords=params.get("Keywords", ""), question=question,
        requester_annotation=params.get("RequesterAnnotation"),
        qualification_requirements=requirements,
    )
    remember_token(state, "CreateHIT", params, hit.hit_id)
    return {"HIT": hit_view(state, hit)}


def get_hit(state: SimulatorState, params: Params) -> Params:
    return {"HIT": hit_view(state, get_hit_or_fail(state, params["HITId"]))}


def list_hits(state: SimulatorState, params: Params) -> Params:
    hits = sorted(state.hits.values(), key=lambda h: h.created_at)
    chunk, paging = page(hits, params)
    return {"HITs": [hit_view(state, h) for h in chunk], **paging}


def list_assignments_for_hit(state: SimulatorState, params: Params) -> Params:
    get_hit_or_fail(state, params["HITId"])
    wanted = params.get("AssignmentStatuses") or ["Submitted", "Approved", "Rejected"]
    found = [a for a in assignments_of(state, params["HITId"]) if a.status in wanted]
    chunk, paging = page(found, params)
    return {"Assignments": [assignment_view(state, a) for a in chunk], **paging}


def get_assignment(state: SimulatorState, params: Params) -> Params:
    assignment = get_assignment_or_fail(state, params["AssignmentId"])
    hit = get_hit_or_fail(state, assignment.hit_id)
    return {"Assignment": assignment_view(state, assignment), "HIT": hit_view(state, hit)}


def _invalid_assignment_state(assignment: SimAssignment, allowed: str) -> SimError:
    return SimError(
        f"This operation can be called with a status of: {allowed} "
        f"(assignment {assignment.assignment_id} is {assignment.status}).",
        "AWS.MechanicalTurk.InvalidAssignmentState")


def approve_assignment(state: SimulatorState, params: Params) -> Params:
    assignment = get_assignment_or_fail(state, params["AssignmentId"])
    allowed = ("Submitted", "Rejected") if params.get("OverrideRejection") else ("Submitted",)
    if assignment.status not in allowed:
        raise _invalid_assignment_state(assignment, ", ".join(allowed))
    assignment.status, assignment.approved_at = "Approved", now()
    if params.get("RequesterFeedback"):
        assignment.requester_feedback = params["RequesterFeedback"]
    return {}


def reject_assignment(state: SimulatorState, params: Params) -> Params:
    assignment = get_assignment_or_fail(state, params["AssignmentId"])
    if assignment.status != "Submitted":
        raise _invalid_assignment_state(assignment, "Submitted")
    assignment.status, assignment.rejected_at = "Rejected", now()
    assignment.requester_feedback = params["RequesterFeedback"]
    return {}


def update_expiration_for_hit(state: SimulatorState, params: Params) -> Params:
    hit = get_hit_or_fail(state, params["HITId"])
    expire_at = datetime.fromtimestamp(params["ExpireAt"], UTC)
    hit.expires_at = max(expire_at, now()) if expire_at > now() else now()
    return {}


def create_additional_assignments_for_hit(state: SimulatorState, params: Params) -> Params:
    refuse_reused_token(state, "CreateAdditionalAssignmentsForHIT", params)
    hit = get_hit_or_fail(state, params["HITId"])
    extra = params["NumberOfAdditionalAssignments"]
    if hit.max_assignments < 10 <= hit.max_assignments + extra:
        raise SimError("A HIT created with fewer than 10 assignments cannot be extended to "
                       "10 or more.", "AWS.MechanicalTurk.InvalidMaximumAssignmentsIncrease")
    charge(state, Decimal(hit.reward), hit.max_assignments + extra, extra)
    hit.max_assignments += extra
    remember_token(state, "CreateAdditionalAssignmentsForHIT", params, hit.hit_id)
    return {}


def delete_hit(state: SimulatorState, params: Params) -> Params:
    hit = get_hit_or_fail(state, params["HITId"])
    status = hit_status(state, hit)
    unreviewed = [a for a in assignments_of(state, hit.hit_id) if a.status == "Submitted"]
    if status != "Reviewable" or unreviewed:
        raise SimError(f"This HIT is currently in the state '{status}' with {len(unreviewed)} "
                       "unreviewed assignments. This operation can be called with a status of: "
                       "Reviewing, Reviewable, once every assignment is reviewed.",
                       "AWS.MechanicalTurk.InvalidHITState")
    del state.hits[hit.hit_id]
    return {}


def new_request_id() -> str:
    """A request id for answers that name one."""
    return new_id(30)
