"""Bonuses: gather them (from runs or a CSV), plan them, and pay each assignment once.

Rule: one bonus per assignment. Before paying, the local record of payments and MTurk's
own list of the assignment's bonuses are checked, and the call carries a token derived
from the endpoint and assignment, so a retried or re-run payment is never made twice.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from ..extensions import db
from ..models import Platform, Run
from .fees import cents, fee_per_payment, from_cents, parse_money
from .gateway import BonusInfo, Gateway
from .models import BonusPayment

CSV_COLUMNS = ("assignment_id", "amount", "reason")
PAID, ALREADY = "paid", "already paid"


class BonusFileError(ValueError):
    """A bonus CSV that cannot be used."""


@dataclass(frozen=True)
class BonusPlan:
    to_pay: list[BonusInfo]
    skipped: list[tuple[BonusInfo, str]]

    @property
    def total(self) -> Decimal:
        return sum((b.amount for b in self.to_pay), Decimal("0.00"))

    @property
    def fees(self) -> Decimal:
        return sum((fee_per_payment(b.amount, 1) for b in self.to_pay), Decimal("0.00"))


def bonus_token(endpoint: str, assignment_id: str) -> str:
    """The deterministic UniqueRequestToken of an assignment's bonus."""
    return "eh-bonus-" + hashlib.sha256(f"{endpoint}|{assignment_id}".encode()).hexdigest()[:48]


def from_runs(assignment_ids: Iterable[str]) -> list[BonusInfo]:
    """Bonuses the experiments recorded on the runs of these assignments."""
    ids = list(assignment_ids)
    runs = db.session.scalars(select(Run).where(
        Run.platform == Platform.MTURK, Run.session_key.in_(ids), Run.bonus_cents > 0))
    return [BonusInfo(r.session_key, r.worker_id, from_cents(r.bonus_cents or 0),
                      r.bonus_reason or "Bonus for your work on our study.") for r in runs]


def read_csv(path: Path, gateway: Gateway) -> list[BonusInfo]:
    """Bonuses from a CSV with columns assignment_id, amount, reason (worker looked up)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise BonusFileError(f"Cannot read {path}: {exc.strerror}") from exc
    if rows and not set(CSV_COLUMNS) <= set(rows[0]):
        raise BonusFileError(f"{path} needs the columns {', '.join(CSV_COLUMNS)}.")
    found = []
    for line, row in enumerate(rows, start=2):
        try:
            amount = parse_money(row["amount"] or "")
        except ValueError as exc:
            raise BonusFileError(f"{path}, line {line}: {exc}") from exc
        reason = (row["reason"] or "").strip()
        if amount <= 0 or not reason:
            raise BonusFileError(f"{path}, line {line}: give a positive amount and a reason.")
        worker = gateway.get_assignment(row["assignment_id"].strip()).worker_id
        found.append(BonusInfo(row["assignment_id"].strip(), worker, amount, reason))
    return found


def plan(endpoint: str, bonuses: list[BonusInfo]) -> BonusPlan:
    """Split bonuses into those to pay and those already paid (by our records)."""
    paid = {row.assignment_id: row for row in db.session.scalars(select(BonusPayment).where(
        BonusPayment.endpoint == endpoint,
        BonusPayment.assignment_id.in_([b.assignment_id for b in bonuses])))}
    to_pay, skipped, seen = [], [], set()
    for bonus in bonuses:
        if bonus.assignment_id in paid:
            row = paid[bonus.assignment_id]
            skipped.append((bonus, f"already paid ${from_cents(row.amount_cents)} on "
                                   f"{row.paid_at:%Y-%m-%d}"))
        elif bonus.assignment_id in seen:
            skipped.append((bonus, "listed twice; one bonus per assignment"))
        else:
            seen.add(bonus.assignment_id)
            to_pay.append(bonus)
    return BonusPlan(to_pay, skipped)


def pay(gateway: Gateway, bonus: BonusInfo) -> str:
    """Pay one bonus unless MTurk already shows one on the assignment (thread-safe)."""
    if gateway.bonuses(bonus.assignment_id):
        return ALREADY
    token = bonus_token(gateway.target.endpoint, bonus.assignment_id)
    return PAID if gateway.send_bonus(bonus, token) else ALREADY


def record(endpoint: str, bonus: BonusInfo) -> None:
    """Remember a paid bonus; the caller commits."""
    db.session.add(BonusPayment(
        endpoint=endpoint, assignment_id=bonus.assignment_id, worker_id=bonus.worker_id,
        amount_cents=cents(bonus.amount), reason=bonus.reason,
        request_token=bonus_token(endpoint, bonus.assignment_id)))
