"""Amazon Mechanical Turk: entry through the ExternalQuestion's query parameters, and the
externalSubmit form that hands the assignment back."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ..completion_codes import COMPLETED
from ..experiments import Experiment
from ..models import Platform, Run
from .base import Completion, EntryError, Identity, Preview, required_id

PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"


def submit_origin(turk_submit_to: str, allowed: tuple[str, ...]) -> str:
    """Check ``turkSubmitTo`` against the allow-list and return its origin (no trailing /)."""
    value = turk_submit_to.strip().rstrip("/")
    parts = urlsplit(value)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    well_formed = parts.scheme in ("http", "https") and parts.netloc and not (
        parts.path or parts.query or parts.fragment or "@" in parts.netloc
    )
    if not well_formed or origin not in {o.rstrip("/").lower() for o in allowed}:
        raise EntryError(
            "This HIT link is not valid",
            "The address this HIT would be submitted to (turkSubmitTo) is not one of "
            "Amazon Mechanical Turk's. Please open the HIT from Mechanical Turk itself.",
        )
    return origin


class MTurkAdapter:
    platform = Platform.MTURK
    give_back = "return the HIT; you will not be penalised"

    def claims(self, args: Mapping[str, str]) -> bool:
        return "assignmentId" in args

    def parse_entry(
        self, args: Mapping[str, str], allowed_submit_origins: tuple[str, ...]
    ) -> Preview | Identity:
        turk_submit_to = args.get("turkSubmitTo", "")
        submit_to = (
            submit_origin(turk_submit_to, allowed_submit_origins) if turk_submit_to else None
        )
        if args.get("assignmentId") == PREVIEW_ASSIGNMENT:
            return Preview()
        assignment_id = required_id(args, "assignmentId", "Mechanical Turk")
        # MTurk's worker ids are upper case; another spelling is the same worker (repeat rule).
        worker_id = required_id(args, "workerId", "Mechanical Turk").upper()
        hit_id = required_id(args, "hitId", "Mechanical Turk")
        if submit_to is None:
            raise EntryError(
                "This HIT link is incomplete",
                "The link is missing turkSubmitTo, so the HIT could not be submitted. "
                "Please open the HIT from Mechanical Turk itself.",
            )
        return Identity(
            platform=self.platform,
            worker_id=worker_id,
            session_key=assignment_id,
            study_key=hit_id,
            submit_to=submit_to,
        )

    def entry_args(self, run: Run) -> dict[str, str]:
        return {
            "assignmentId": run.session_key,
            "hitId": run.study_key or "",
            "workerId": run.worker_id,
            "turkSubmitTo": run.submit_to or "",
        }

    def unsupported_reason(self, experiment: Experiment) -> str | None:
        return None

    def open_elsewhere(self) -> str:
        return ("This HIT is already open under another assignment of yours. Please continue "
                "(or submit) it there, or return this HIT so that it does not count against "
                "you. If you have already returned the other assignment, please try again "
                "later.")

    def completion(self, run: Run, experiment: Experiment) -> Completion:
        return Completion(
            template="worker/done_mturk.html",
            context={
                "action": f"{run.submit_to}/mturk/externalSubmit",
                "fields": {
                    "assignmentId": run.session_key,
                    "completionCode": run.completion_code or "",
                    # MTurk has no outcomes: the researcher reads it in the Answer to review.
                    "outcome": run.outcome or COMPLETED,
                },
            },
        )
