"""The local Prolific simulator's state: studies, submissions, bulk bonus payments and the
ledger of every payment made, so tests can assert that nobody was paid twice."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

STUDY_STATUSES = ("UNPUBLISHED", "ACTIVE", "PAUSED", "AWAITING REVIEW", "COMPLETED")
#: Study transitions: action → (statuses it may start from, status it leads to).
STUDY_TRANSITIONS = {
    "PUBLISH": (("UNPUBLISHED",), "ACTIVE"),
    "PAUSE": (("ACTIVE",), "PAUSED"),
    "START": (("PAUSED",), "ACTIVE"),
    "STOP": (("ACTIVE", "PAUSED", "AWAITING REVIEW"), "COMPLETED"),
}
#: The service fee Prolific adds to rewards and bonuses (a third), and VAT on the fee.
FEE_RATE_NUMERATOR, FEE_RATE_DENOMINATOR = 1, 3
VAT_PERCENT = 0


def new_id() -> str:
    """A Prolific-style id: 24 hex digits."""
    return secrets.token_hex(12)


def fee_of(cents: int) -> int:
    return (cents * FEE_RATE_NUMERATOR + FEE_RATE_DENOMINATOR - 1) // FEE_RATE_DENOMINATOR


@dataclass
class ProlificFaults:
    """Faults the API injects; each ``*_next`` counts down per call."""

    throttle_next: int = 0
    fail_next: int = 0
    #: Apply the call, then answer 500 as if the response were lost.
    lose_next: int = 0
    latency_seconds: float = 0.0
    #: Seconds sent in Retry-After with a throttled answer.
    retry_after: int = 0
    #: Limit the faults to paths containing one of these strings (empty: every call).
    paths: tuple[str, ...] = ()


@dataclass
class Submission:
    id: str
    study_id: str
    participant_id: str
    status: str = "ACTIVE"
    study_code: str | None = None
    bonus_payments: list[int] = field(default_factory=list)

    def as_api(self) -> dict[str, Any]:
        return {"id": self.id, "study_id": self.study_id, "participant_id": self.participant_id,
                "status": self.status, "study_code": self.study_code,
                "bonus_payments": list(self.bonus_payments)}


class ProlificState:
    """Thread-safe in-memory Prolific; ``lock`` guards every read-modify-write."""

    def __init__(self, balance_cents: int = 1_000_000) -> None:
        self.lock = threading.RLock()
        self.user_id = new_id()
        self.balance_cents = balance_cents
        self.studies: dict[str, dict[str, Any]] = {}
        self.submissions: dict[str, Submission] = {}
        self.bulk_bonuses: dict[str, dict[str, Any]] = {}
        #: Every bonus actually paid: {"bulk_id", "submission_id", "participant_id", "cents"}.
        self.payments: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.workspace_id = new_id()
        self.hook_secret = ""
        self.hooks: dict[str, dict[str, Any]] = {}
        self.faults = ProlificFaults()
        self.calls: Counter[str] = Counter()

    def study_cost(self, study: dict[str, Any]) -> dict[str, int]:
        rewards = study["reward"] * study["total_available_places"]
        fees = fee_of(rewards)
        vat = fees * VAT_PERCENT // 100
        return {"fees": fees, "vat": vat, "total": rewards + fees + vat}

    def start(self, study_id: str, participant_id: str) -> Submission:
        """A participant starts a study: a new ACTIVE submission (one per participant)."""
        with self.lock:
            study = self.studies[study_id]
            for submission in self.submissions.values():
                if submission.study_id == study_id and submission.participant_id == participant_id:
                    return submission
            taken = sum(1 for s in self.submissions.values()
                        if s.study_id == study_id and s.status not in ("RETURNED", "TIMED-OUT"))
            if study["status"] != "ACTIVE" or taken >= study["total_available_places"]:
                raise LookupError("This study has no places available.")
            submission = Submission(new_id(), study_id, participant_id)
            self.submissions[submission.id] = submission
            return submission

    def complete(self, participant_id: str, code: str) -> Submission:
        """The participant came back with ``code``: apply the code's action."""
        with self.lock:
            for submission in self.submissions.values():
                if submission.participant_id != participant_id or submission.status != "ACTIVE":
                    continue
                for entry in self.studies[submission.study_id].get("completion_codes", []):
                    if entry["code"] == code:
                        submission.study_code = code
                        actions = {a.get("action") for a in entry.get("actions", [])}
                        submission.status = ("APPROVED" if "AUTOMATICALLY_APPROVE" in actions
                                             else "AWAITING REVIEW")
                        return submission
            raise LookupError(f"No study of yours in progress takes the code {code!r}.")
