"""The only code that talks to boto3, so MTurk's quirks stay here: a client from config,
typed records, clear errors, and deterministic ``UniqueRequestToken``s on money-moving
calls (MTurk's "token already used" means an earlier, maybe lost, call did it)."""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from .errors import InvalidState, MTurkError, ReusedToken, translate

REGION = "us-east-1"
SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
PREVIEW = {True: "https://workersandbox.mturk.com/mturk/preview?groupId=",
           False: "https://worker.mturk.com/mturk/preview?groupId="}
PAGE_SIZE = 100
NOTIFY_BATCH = 100
HIT_ID = re.compile(r"\b[A-Z0-9]{30}\b")
#: Credentials signed into calls to a simulator on this machine: it checks no signature, and
#: real credentials have no business being sent to a local process.
SIMULATOR_CREDENTIALS = {"aws_access_key_id": "simulator", "aws_secret_access_key": "simulator"}


def is_loopback(url: str) -> bool:
    """True when the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Target:
    """Where calls go: the endpoint, and whether it is the sandbox, live, or a custom one."""

    endpoint: str
    live: bool
    custom: bool

    @property
    def label(self) -> str:
        where = "LIVE (real money)" if self.live else "sandbox (no real money)"
        return f"{where} at custom endpoint {self.endpoint}" if self.custom else where

    @property
    def local(self) -> bool:
        """A simulator on this machine (MTURK_ENDPOINT_URL on loopback), never live MTurk."""
        return self.custom and not self.live and is_loopback(self.endpoint)

    def preview_url(self, hit_id: str, group_id: str) -> str:
        """The worker-side preview link of a HIT."""
        if self.custom:
            return f"{self.endpoint.rstrip('/')}/hits/{hit_id}"
        return PREVIEW[not self.live] + group_id


def target_from_config(config: Mapping[str, Any], live: bool) -> Target:
    """The endpoint for this command: sandbox unless ``live``; MTURK_ENDPOINT_URL overrides."""
    custom = str(config.get("MTURK_ENDPOINT_URL") or "").strip().rstrip("/")
    if custom:
        return Target(custom, live, True)
    return Target(LIVE_ENDPOINT if live else SANDBOX_ENDPOINT, live, False)


@dataclass(frozen=True)
class HitInfo:
    hit_id: str
    group_id: str
    title: str
    status: str
    max_assignments: int
    reward: Decimal
    expiration: datetime
    annotation: str
    available: int
    pending: int
    completed: int
    assignment_duration_seconds: int


@dataclass(frozen=True)
class AssignmentInfo:
    assignment_id: str
    worker_id: str
    hit_id: str
    status: str
    submitted_at: datetime | None
    answers: dict[str, str]


@dataclass(frozen=True)
class BonusInfo:
    assignment_id: str
    worker_id: str
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class NotifyFailure:
    worker_id: str
    code: str
    message: str


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _hit(raw: Mapping[str, Any]) -> HitInfo:
    return HitInfo(
        hit_id=raw["HITId"], group_id=raw.get("HITGroupId", ""), title=raw.get("Title", ""),
        status=raw.get("HITStatus", ""), max_assignments=raw.get("MaxAssignments", 0),
        reward=Decimal(raw.get("Reward", "0")), expiration=_utc(raw["Expiration"]),
        annotation=raw.get("RequesterAnnotation", ""),
        available=raw.get("NumberOfAssignmentsAvailable", 0),
        pending=raw.get("NumberOfAssignmentsPending", 0),
        completed=raw.get("NumberOfAssignmentsCompleted", 0),
        assignment_duration_seconds=raw.get("AssignmentDurationInSeconds", 0),
    )


def parse_answers(xml: str) -> dict[str, str]:
    """The fields of a QuestionFormAnswers document, by QuestionIdentifier."""
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    found: dict[str, str] = {}
    for answer in root.iter():
        if answer.tag.endswith("}Answer") or answer.tag == "Answer":
            parts = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in answer}
            found[parts.get("QuestionIdentifier", "")] = parts.get("FreeText", "")
    return found


def _assignment(raw: Mapping[str, Any]) -> AssignmentInfo:
    return AssignmentInfo(
        assignment_id=raw["AssignmentId"], worker_id=raw["WorkerId"], hit_id=raw["HITId"],
        status=raw["AssignmentStatus"], submitted_at=_utc(raw.get("SubmitTime")),
        answers=parse_answers(raw.get("Answer", "")),
    )


def build_client(target: Target, max_attempts: int, pool_size: int) -> Any:
    """A boto3 ``mturk`` client with explicit standard-mode retries (credentials: the chain)."""
    config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts},
                    max_pool_connections=pool_size, connect_timeout=10, read_timeout=60)
    credentials = SIMULATOR_CREDENTIALS if target.local else {}
    return boto3.session.Session(**credentials).client(
        "mturk", region_name=REGION, endpoint_url=target.endpoint, config=config)


class Gateway:
    """MTurk requester calls with typed answers and translated errors; thread-safe."""

    def __init__(self, target: Target, client: Any) -> None:
        self.target = target
        self.client = client

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, operation)(**params)
        except Exception as error:
            raise translate(error, operation, self.target.endpoint) from error

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator(operation)
        try:
            for page in paginator.paginate(**params, PaginationConfig={"PageSize": PAGE_SIZE}):
                yield from page.get(key, [])
        except Exception as error:
            raise translate(error, operation, self.target.endpoint) from error

    def balance(self) -> Decimal:
        """The account's available balance in USD."""
        return Decimal(self._call("get_account_balance")["AvailableBalance"])

    def create_hit(self, params: Mapping[str, Any], token: str) -> tuple[HitInfo, bool]:
        """Create a HIT once per token; (the HIT, False) when the token already made it."""
        try:
            raw = self._call("create_hit", **params, UniqueRequestToken=token)
        except ReusedToken as done:
            return self._existing_hit(str(done), params.get("RequesterAnnotation", "")), False
        return _hit(raw["HIT"]), True

    def _existing_hit(self, message: str, annotation: str) -> HitInfo:
        for hit_id in HIT_ID.findall(message):
            return self.get_hit(hit_id)
        for raw in self._pages("list_hits", "HITs"):
            if annotation and raw.get("RequesterAnnotation") == annotation:
                return _hit(raw)
        raise MTurkError("MTurk says this HIT was already created, but it cannot be found.")

    def get_hit(self, hit_id: str) -> HitInfo:
        """One HIT."""
        return _hit(self._call("get_hit", HITId=hit_id)["HIT"])

    def list_hits(self) -> Iterator[HitInfo]:
        """Every HIT of the account (all pages)."""
        return (_hit(raw) for raw in self._pages("list_hits", "HITs"))

    def assignments(self, hit_id: str, statuses: tuple[str, ...] = ()) -> list[AssignmentInfo]:
        """The HIT's Submitted/Approved/Rejected assignments (or only ``statuses``)."""
        extra = {"AssignmentStatuses": list(statuses)} if statuses else {}
        pages = self._pages("list_assignments_for_hit", "Assignments", HITId=hit_id, **extra)
        return [_assignment(raw) for raw in pages]

    def get_assignment(self, assignment_id: str) -> AssignmentInfo:
        """One assignment."""
        return _assignment(self._call("get_assignment", AssignmentId=assignment_id)["Assignment"])

    def _settle(self, call: Callable[[], Any], assignment_id: str, done: str) -> bool:
        """Run ``call``; False if it fails only because the assignment is already ``done``."""
        try:
            call()
        except InvalidState:
            if self.get_assignment(assignment_id).status == done:
                return False
            raise
        return True

    def approve(self, assignment_id: str) -> bool:
        """Approve a submitted assignment; False when it was approved already."""
        return self._settle(lambda: self._call("approve_assignment", AssignmentId=assignment_id),
                            assignment_id, "Approved")

    def reject(self, assignment_id: str, feedback: str) -> bool:
        """Reject a submitted assignment with feedback; False when it was rejected already."""
        return self._settle(lambda: self._call(
            "reject_assignment", AssignmentId=assignment_id, RequesterFeedback=feedback),
            assignment_id, "Rejected")

    def send_bonus(self, bonus: BonusInfo, token: str) -> bool:
        """Pay a bonus once per token; False when the token had already paid it."""
        try:
            self._call("send_bonus", WorkerId=bonus.worker_id, AssignmentId=bonus.assignment_id,
                       BonusAmount=f"{bonus.amount:.2f}", Reason=bonus.reason,
                       UniqueRequestToken=token)
        except ReusedToken:
            return False
        return True

    def bonuses(self, assignment_id: str) -> list[BonusInfo]:
        """Bonuses already paid on an assignment."""
        return [BonusInfo(raw["AssignmentId"], raw["WorkerId"], Decimal(raw["BonusAmount"]),
                          raw.get("Reason", ""))
                for raw in self._pages("list_bonus_payments", "BonusPayments",
                                       AssignmentId=assignment_id)]

    def set_expiration(self, hit_id: str, when: datetime) -> None:
        """Move the HIT's expiry (a past time expires it now)."""
        self._call("update_expiration_for_hit", HITId=hit_id, ExpireAt=when)

    def add_assignments(self, hit_id: str, count: int, token: str) -> bool:
        """Add assignments once per token; False when the token had already added them."""
        try:
            self._call("create_additional_assignments_for_hit", HITId=hit_id,
                       NumberOfAdditionalAssignments=count, UniqueRequestToken=token)
        except ReusedToken:
            return False
        return True

    def delete_hit(self, hit_id: str) -> None:
        """Delete a reviewable HIT whose assignments are all reviewed."""
        self._call("delete_hit", HITId=hit_id)

    def find_qualification_type(self, name: str) -> str | None:
        """The id of this account's qualification type called ``name``, if any."""
        for raw in self._pages("list_qualification_types", "QualificationTypes", Query=name,
                               MustBeRequestable=False, MustBeOwnedByCaller=True):
            if raw["Name"] == name:
                return str(raw["QualificationTypeId"])
        return None

    def create_qualification_type(self, name: str, description: str) -> str:
        """Create (or find, if it exists) an active qualification type; its id."""
        existing = self.find_qualification_type(name)
        if existing:
            return existing
        raw = self._call("create_qualification_type", Name=name, Description=description,
                         QualificationTypeStatus="Active", Keywords="experiment_host")
        return str(raw["QualificationType"]["QualificationTypeId"])

    def grant(self, qualification_type_id: str, worker_id: str) -> None:
        """Give a worker the qualification, without notifying them."""
        self._call("associate_qualification_with_worker",
                   QualificationTypeId=qualification_type_id, WorkerId=worker_id,
                   IntegerValue=1, SendNotification=False)

    def qualified_workers(self, qualification_type_id: str) -> set[str]:
        """Workers who hold the qualification."""
        pages = self._pages("list_workers_with_qualification_type", "Qualifications",
                            QualificationTypeId=qualification_type_id)
        return {raw["WorkerId"] for raw in pages}

    def notify(self, subject: str, text: str, worker_ids: list[str]) -> list[NotifyFailure]:
        """Message workers, 100 per call; the workers MTurk could not message."""
        failures: list[NotifyFailure] = []
        for start in range(0, len(worker_ids), NOTIFY_BATCH):
            raw = self._call("notify_workers", Subject=subject, MessageText=text,
                             WorkerIds=worker_ids[start:start + NOTIFY_BATCH])
            failures.extend(NotifyFailure(f["WorkerId"], f.get("NotifyWorkersFailureCode", ""),
                                          f.get("NotifyWorkersFailureMessage", ""))
                            for f in raw.get("NotifyWorkersFailureStatuses", []))
        return failures


def gateway_for(config: Mapping[str, Any], live: bool) -> Gateway:
    """A gateway for this app's config (sandbox unless ``live``)."""
    target = target_from_config(config, live)
    pool = int(config.get("MTURK_CONCURRENCY", 10)) + 2
    client = build_client(target, int(config.get("MTURK_MAX_ATTEMPTS", 8)), pool)
    return Gateway(target, client)
