"""The local Prolific simulator's state: studies, submissions, bulk bonus payments and the
ledger of every payment made, so tests can assert that nobody was paid twice; and the hook
events a submission's status change sends to the subscribed URLs, signed as Prolific signs
them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
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


#: Hook deliveries tried per event (Prolific retries a failed delivery), and the pause between.
HOOK_ATTEMPTS = 3
HOOK_RETRY_SECONDS = 0.2


@dataclass
class Submission:
    id: str
    study_id: str
    participant_id: str
    status: str = "ACTIVE"
    study_code: str | None = None
    bonus_payments: list[int] = field(default_factory=list)

    def as_api(self, bonus_objects: bool = False) -> dict[str, Any]:
        """Prolific's submission; ``bonus_payments`` as amounts in minor units, or (types
        only say "a list of anything") as objects carrying an ``amount``."""
        paid: list[Any] = list(self.bonus_payments)
        if bonus_objects:
            paid = [{"id": f"bonus-{n}", "amount": cents} for n, cents in enumerate(paid)]
        return {"id": self.id, "study_id": self.study_id, "participant_id": self.participant_id,
                "status": self.status, "study_code": self.study_code, "bonus_payments": paid}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Prolific's hook signature: base64 HMAC-SHA256 of timestamp + body."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


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
        #: Show ``bonus_payments`` as objects with an ``amount`` instead of integers.
        self.bonus_objects = False
        #: Every hook delivery tried: {"url", "event", "status"} (status None: no answer).
        self.deliveries: list[dict[str, Any]] = []
        self._outbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._sender: threading.Thread | None = None

    def set_status(self, submission: Submission, status: str) -> None:
        """Change a submission's status and send the hook event (caller holds the lock)."""
        if submission.status == status:
            return
        submission.status = status
        event = {"event_type": "submission.status.change", "resource_id": submission.id,
                 "participant_id": submission.participant_id, "status": status,
                 "study_id": submission.study_id}
        for hook in self.hooks.values():
            if hook["is_enabled"] and hook["event_type"] == event["event_type"]:
                self._outbox.put((hook["target_url"], json.dumps(event).encode()))
                if self._sender is None:
                    self._sender = threading.Thread(target=self._send_forever, daemon=True,
                                                    name="prolific-simulator-hooks")
                    self._sender.start()

    def _send_forever(self) -> None:
        """Deliver events in order, off the request that caused them (as Prolific does)."""
        while True:
            url, body = self._outbox.get()
            self._deliver(url, body)

    def _deliver(self, url: str, body: bytes) -> None:
        status: int | None = None
        for attempt in range(HOOK_ATTEMPTS):
            stamp = str(int(time.time()))
            with self.lock:
                secret = self.hook_secret
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json", "X-Prolific-Request-Timestamp": stamp,
                "X-Prolific-Request-Signature": sign(secret, stamp, body)})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = None
            if status is not None and status < 500:
                break
            time.sleep(HOOK_RETRY_SECONDS * (attempt + 1))
        with self.lock:
            self.deliveries.append({"url": url, "event": json.loads(body), "status": status})

    def return_submission(self, participant_id: str, study_id: str) -> Submission:
        """The participant returns the study: their active submission becomes RETURNED."""
        with self.lock:
            for submission in self.submissions.values():
                if (submission.participant_id == participant_id
                        and submission.study_id == study_id and submission.status == "ACTIVE"):
                    self.set_status(submission, "RETURNED")
                    return submission
        raise LookupError("You have no submission in progress in this study.")

    def time_out(self, submission_id: str) -> Submission:
        """The participant ran past the study's maximum time: TIMED-OUT."""
        with self.lock:
            submission = self.submissions.get(submission_id)
            if submission is None or submission.status != "ACTIVE":
                raise LookupError(f"No active submission {submission_id}.")
            self.set_status(submission, "TIMED-OUT")
            return submission

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
                        self.set_status(submission, "APPROVED" if "AUTOMATICALLY_APPROVE"
                                        in actions else "AWAITING REVIEW")
                        return submission
            raise LookupError(f"No study of yours in progress takes the code {code!r}.")
