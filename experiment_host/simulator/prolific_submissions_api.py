"""The simulator's Prolific submissions API: listing, approving and rejecting, bulk approval,
the two-step bonus payment (paying twice pays twice, as on Prolific) and messages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, jsonify, request

from .prolific_api import REJECTION_CATEGORIES, ApiError, body_of, bp, invalid, state, study_or_404
from .prolific_state import fee_of, new_id


@bp.get("/api/v1/studies/<study_id>/submissions/")
def study_submissions(study_id: str) -> Any:
    with state().lock:
        study_or_404(study_id)
        results = [s.as_api(state().bonus_objects) for s in state().submissions.values()
                   if s.study_id == study_id]
    return jsonify(results=results, _links={"next": {"href": None}}, meta={"total": len(results)})


@bp.get("/api/v1/submissions/<submission_id>/")
def get_submission(submission_id: str) -> Any:
    with state().lock:
        submission = state().submissions.get(submission_id)
        if submission is None:
            raise ApiError(404, "Not found", f"Submission {submission_id} not found.")
        return jsonify(submission.as_api(state().bonus_objects))


@bp.post("/api/v1/submissions/<submission_id>/transition/")
def transition_submission(submission_id: str) -> Any:
    body = body_of({"action": str}, {"message": str, "rejection_category": str})
    with state().lock:
        submission = state().submissions.get(submission_id)
        if submission is None:
            raise ApiError(404, "Not found", f"Submission {submission_id} not found.")
        action = body["action"]
        if action == "REJECT":
            if len(body.get("message", "")) < 100:
                raise invalid({"message": ["A rejection message of at least 100 characters "
                                           "is required."]})
            if body.get("rejection_category") not in REJECTION_CATEGORIES:
                raise invalid({"rejection_category": ["Not a valid choice."]})
        elif action != "APPROVE":
            raise invalid({"action": ["Choose APPROVE or REJECT."]})
        target = "APPROVED" if action == "APPROVE" else "REJECTED"
        if submission.status != target:  # the same request twice is ignored (idempotent)
            if submission.status != "AWAITING REVIEW":
                raise ApiError(400, "Invalid transition",
                               f"Cannot {action} a submission that is {submission.status}.")
            state().set_status(submission, target)
        return jsonify(submission.as_api(state().bonus_objects))


@bp.post("/api/v1/submissions/bulk-approve/")
def bulk_approve() -> Any:
    body = request.get_json(silent=True)
    if isinstance(body, dict) and "submission_ids" in body:
        body = body_of({"submission_ids": list})
        wanted = [state().submissions.get(i) for i in body["submission_ids"]]
    else:
        body = body_of({"study_id": str, "participant_ids": list})
        wanted = [s for s in state().submissions.values() if s.study_id == body["study_id"]
                  and s.participant_id in body["participant_ids"]]
    with state().lock:
        if any(s is None or s.status not in ("AWAITING REVIEW", "APPROVED") for s in wanted):
            raise invalid({"submission_ids": ["Every submission must be awaiting review."]})
        for submission in wanted:
            if submission is not None:
                state().set_status(submission, "APPROVED")
    return jsonify("The request to bulk approve has been made successfully.")


def parse_csv_bonuses(study_id: str, text: str) -> list[tuple[str, int]]:
    lines: list[tuple[str, int]] = []
    by_id = {s.id: s for s in state().submissions.values() if s.study_id == study_id}
    by_participant = {s.participant_id: s for s in by_id.values()}
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        key, _, amount = line.partition(",")
        submission = by_id.get(key) or by_participant.get(key)
        try:
            cents = int(Decimal(amount) * 100)
        except InvalidOperation:
            cents = 0
        if submission is None or cents <= 0 or Decimal(amount) * 100 != cents:
            raise invalid({"csv_bonuses": [f"Invalid line: {line!r}"]})
        lines.append((submission.id, cents))
    if not lines:
        raise invalid({"csv_bonuses": ["No bonuses given."]})
    return lines


@bp.post("/api/v1/submissions/bonus-payments/")
def set_up_bonuses() -> Any:
    body = body_of({"study_id": str, "csv_bonuses": str})
    with state().lock:
        study_or_404(body["study_id"])
        lines = parse_csv_bonuses(body["study_id"], body["csv_bonuses"])
        amount = sum(cents for _, cents in lines)
        bulk = {"id": new_id(), "study": body["study_id"], "amount": amount,
                "fees": fee_of(amount), "vat": 0, "total_amount": amount + fee_of(amount),
                "lines": lines}
        state().bulk_bonuses[bulk["id"]] = bulk
        return jsonify({k: v for k, v in bulk.items() if k != "lines"}), 201


@bp.post("/api/v1/bulk-bonus-payments/<bulk_id>/pay/")
def pay_bonuses(bulk_id: str) -> Any:
    """Not idempotent, as Prolific warns: paying the same bulk payment twice pays twice."""
    with state().lock:
        bulk = state().bulk_bonuses.get(bulk_id)
        if bulk is None:
            raise ApiError(404, "Not found", f"Bulk bonus payment {bulk_id} not found.")
        if bulk["total_amount"] > state().balance_cents:
            raise ApiError(400, "Insufficient balance", "Insufficient balance in workspace.")
        state().balance_cents -= bulk["total_amount"]
        for submission_id, cents in bulk["lines"]:
            submission = state().submissions[submission_id]
            submission.bonus_payments.append(cents)
            state().payments.append({"bulk_id": bulk_id, "submission_id": submission_id,
                                     "participant_id": submission.participant_id,
                                     "cents": cents})
    return jsonify(f"Bulk bonus payment with ID {bulk_id} is being processed asynchronously. "
                   "Payments will be completed shortly."), 202


@bp.post("/api/v1/messages/bulk/")
def bulk_message() -> Any:
    body = body_of({"ids": list, "body": str, "study_id": str})
    with state().lock:
        study_or_404(body["study_id"])
        if not body["body"].strip() or not all(isinstance(i, str) for i in body["ids"]):
            raise invalid({"body": ["A message body and participant ids are required."]})
        for participant_id in body["ids"]:
            state().messages.append({"participant_id": participant_id,
                                     "study_id": body["study_id"], "body": body["body"]})
    return Response(status=204)
