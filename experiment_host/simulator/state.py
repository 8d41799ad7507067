"""The local MTurk simulator's state: HITs, assignments and what workers submitted. One
instance is shared by the worker site and the requester API, so a HIT created through the
API can be worked in the simulated worker page."""

from __future__ import annotations

import secrets
import string
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id(length: int = 30, prefix: str = "") -> str:
    """An MTurk-style id: uppercase letters and digits."""
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(length - len(prefix)))


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimHit:
    hit_id: str
    external_url: str
    title: str
    description: str = ""
    reward: str = "0.00"
    max_assignments: int = 1
    assignment_duration_seconds: int = 3600
    auto_approval_delay_seconds: int = 3 * 24 * 3600
    created_at: datetime = field(default_factory=now)
    expires_at: datetime = field(default_factory=lambda: now() + timedelta(days=3))
    hit_type_id: str = field(default_factory=lambda: new_id(30))
    hit_group_id: str = field(default_factory=lambda: new_id(30))
    status: str = "Assignable"
    extra: dict[str, object] = field(default_factory=dict)
    keywords: str = ""
    requester_annotation: str | None = None
    question: str = ""
    qualification_requirements: list[dict[str, object]] = field(default_factory=list)


@dataclass
class SimAssignment:
    assignment_id: str
    hit_id: str
    worker_id: str
    status: str = "Accepted"  # Accepted → Submitted → Approved/Rejected, or Returned
    accepted_at: datetime = field(default_factory=now)
    submitted_at: datetime | None = None
    answer_fields: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    requester_feedback: str | None = None


@dataclass
class SimBonus:
    worker_id: str
    assignment_id: str
    amount: Decimal
    reason: str
    granted_at: datetime = field(default_factory=now)


@dataclass
class SimQualificationType:
    qualification_type_id: str
    name: str
    description: str
    status: str = "Active"
    keywords: str = ""
    created_at: datetime = field(default_factory=now)


@dataclass
class Faults:
    """Faults the requester API injects; each ``*_next`` counts down per call."""

    throttle_next: int = 0
    fail_next: int = 0
    #: Apply the change, then answer a ServiceFault as if the response were lost.
    lose_next: int = 0
    latency_seconds: float = 0.0
    #: Limit the faults to these operations (empty: every operation).
    operations: frozenset[str] = frozenset()
    #: Ids (an AssignmentId, HITId, WorkerId or QualificationTypeId of a call) that MTurk
    #: refuses, each with the TurkErrorCode of its RequestError, e.g. an assignment that
    #: another tool already rejected.
    refuse: dict[str, str] = field(default_factory=dict)


class SimulatorState:
    """Thread-safe in-memory store; ``lock`` guards every read-modify-write."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.hits: dict[str, SimHit] = {}
        self.assignments: dict[str, SimAssignment] = {}
        self.submissions: list[dict[str, object]] = []
        # Requester side (requester_api.py): money, idempotency, qualifications, faults.
        self.balance = Decimal("10000.00")
        self.request_tokens: dict[str, str] = {}
        self.bonuses: list[SimBonus] = []
        self.qualification_types: dict[str, SimQualificationType] = {}
        self.worker_qualifications: dict[tuple[str, str], int] = {}
        self.notifications: list[dict[str, object]] = []
        self.faults = Faults()
        self.calls: Counter[str] = Counter()

    def is_excluded(self, hit: SimHit, worker_id: str) -> bool:
        """True when a ``DoesNotExist`` requirement of the HIT names one of the worker's quals."""
        return any(
            requirement.get("Comparator") == "DoesNotExist"
            and (requirement.get("QualificationTypeId"), worker_id) in self.worker_qualifications
            for requirement in hit.qualification_requirements
        )

    def create_hit(self, external_url: str, title: str, **fields: object) -> SimHit:
        """Add a HIT whose question frames ``external_url``."""
        with self.lock:
            hit = SimHit(hit_id=new_id(30), external_url=external_url, title=title, **fields)  # type: ignore[arg-type]
            self.hits[hit.hit_id] = hit
            return hit

    def accept(self, hit_id: str, worker_id: str) -> SimAssignment:
        """A worker accepts the HIT: a new assignment (MTurk: one per worker per HIT)."""
        with self.lock:
            hit = self.hits[hit_id]
            for assignment in self.assignments.values():
                if (assignment.hit_id == hit_id and assignment.worker_id == worker_id
                        and assignment.status != "Returned"):
                    return assignment
            taken = sum(
                1 for a in self.assignments.values()
                if a.hit_id == hit_id and a.status != "Returned"
            )
            closed = hit.status != "Assignable" or hit.expires_at <= now()
            if taken >= hit.max_assignments or closed:
                raise LookupError("This HIT has no more assignments available.")
            if self.is_excluded(hit, worker_id):
                raise LookupError("You do not meet the qualification requirements of this HIT.")
            assignment = SimAssignment(new_id(30), hit_id, worker_id)
            self.assignments[assignment.assignment_id] = assignment
            return assignment

    def return_assignment(self, assignment_id: str) -> SimAssignment:
        """The worker gives the assignment back without submitting."""
        with self.lock:
            assignment = self.assignments[assignment_id]
            if assignment.status == "Accepted":
                assignment.status = "Returned"
            return assignment

    def submit(self, fields: dict[str, str]) -> SimAssignment:
        """Record an externalSubmit; raises LookupError/ValueError like MTurk refuses."""
        with self.lock:
            assignment_id = fields.get("assignmentId", "")
            assignment = self.assignments.get(assignment_id)
            if assignment is None:
                raise LookupError(f"No assignment {assignment_id!r} is in progress.")
            if assignment.status != "Accepted":
                raise ValueError(f"Assignment {assignment_id} is already {assignment.status}.")
            if len([k for k in fields if k != "assignmentId"]) < 1:
                raise ValueError("A submission needs at least one field besides assignmentId.")
            assignment.status = "Submitted"
            assignment.submitted_at = now()
            assignment.answer_fields = {k: v for k, v in fields.items() if k != "assignmentId"}
            self.submissions.append({"assignmentId": assignment_id, **fields})
            return assignment
