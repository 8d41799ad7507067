"""Bonuses paid only where money follows verified data (MTurk reports the assignment
Approved; our run of it is that worker's and completed with its data), and once per
assignment: a retried or re-run payment checks our records and MTurk's, and reuses a token."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from ..database import insert_ignoring_duplicates
from ..extensions import db
from ..models import Run, utcnow
from .fees import cents, fee_per_payment, from_cents, parse_money
from .gateway import AssignmentInfo, BonusInfo, Gateway
from .models import BonusPayment
from .review import data_problem

CSV_COLUMNS = ("assignment_id", "amount", "reason")
PAID, ALREADY = "paid", "already paid"


class BonusFileError(ValueError):
    """A bonus CSV that cannot be used."""


@dataclass(frozen=True)
class Wanted:
    """A bonus asked for (recorded on a run, or a CSV row), not yet checked."""

    assignment_id: str
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class BonusPlan:
    to_pay: list[BonusInfo]
    skipped: list[tuple[Wanted, str]]

    @property
    def total(self) -> Decimal:
        return sum((b.amount for b in self.to_pay), Decimal("0.00"))

    @property
    def fees(self) -> Decimal:
        return sum((fee_per_payment(b.amount, 1) for b in self.to_pay), Decimal("0.00"))


def bonus_token(endpoint: str, assignment_id: str) -> str:
    """The deterministic UniqueRequestToken of an assignment's bonus."""
    return "eh-bonus-" + hashlib.sha256(f"{endpoint}|{assignment_id}".encode()).hexdigest()[:48]


def from_runs(runs: Iterable[Run]) -> list[Wanted]:
    """Bonuses the experiments recorded on these runs."""
    return [Wanted(r.session_key, from_cents(r.bonus_cents or 0),
                   r.bonus_reason or "Bonus for your work on our study.")
            for r in runs if (r.bonus_cents or 0) > 0]


def read_csv(path: Path) -> list[Wanted]:
    """Bonuses from a CSV with columns assignment_id, amount, reason; the whole file is
    checked first, and every bad row is reported with its line number."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BonusFileError(f"Cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
                             ) from exc
    if rows and not set(CSV_COLUMNS) <= set(rows[0]):
        raise BonusFileError(f"{path} needs the columns {', '.join(CSV_COLUMNS)}.")
    found: list[Wanted] = []
    problems: list[str] = []
    for line, row in enumerate(rows, start=2):
        try:
            found.append(_csv_row(row))
        except ValueError as exc:
            problems.append(f"{path}, line {line}: {exc}")
    if problems:
        raise BonusFileError(f"{len(problems)} bad row(s), nothing paid:\n" + "\n".join(problems))
    return found


def _csv_row(row: dict[str, str | None]) -> Wanted:
    assignment_id = (row.get("assignment_id") or "").strip()
    amount = parse_money(row.get("amount") or "")
    reason = (row.get("reason") or "").strip()
    if not assignment_id:
        raise ValueError("no assignment_id.")
    if amount <= 0 or not reason:
        raise ValueError("give a positive amount and a reason.")
    return Wanted(assignment_id, amount, reason)


def unpayable(assignment: AssignmentInfo | None, run: Run | None,
              approving: set[str]) -> str | None:
    """Why this assignment's bonus must not be paid, or None when it may."""
    if assignment is None:
        return "MTurk did not report this assignment (not one of the chosen HITs' own)"
    problem = data_problem(assignment, run)
    if problem:
        return problem
    if assignment.status != "Approved" and assignment.assignment_id not in approving:
        return (f"not approved (MTurk: {assignment.status}); approve it first, or give "
                "--approve")
    return None


def plan(endpoint: str, wanted: list[Wanted], assignments: dict[str, AssignmentInfo],
         runs: dict[str, Run], approving: set[str]) -> BonusPlan:
    """Split bonuses into those to pay and those skipped: already paid (by our records),
    listed twice, or not payable (see :func:`unpayable`)."""
    paid = {row.assignment_id: row for row in db.session.scalars(select(BonusPayment).where(
        BonusPayment.endpoint == endpoint,
        BonusPayment.assignment_id.in_([b.assignment_id for b in wanted])))}
    to_pay: list[BonusInfo] = []
    skipped: list[tuple[Wanted, str]] = []
    seen: set[str] = set()
    for bonus in wanted:
        key = bonus.assignment_id
        assignment = assignments.get(key)
        problem = unpayable(assignment, runs.get(key), approving)
        if key in paid:
            row = paid[key]
            problem = f"already paid ${from_cents(row.amount_cents)} on {row.paid_at:%Y-%m-%d}"
        elif key in seen:
            problem = "listed twice; one bonus per assignment"
        if problem or assignment is None:
            skipped.append((bonus, problem or ""))
            continue
        seen.add(key)
        # MTurk's worker id, never one a browser sent us.
        to_pay.append(BonusInfo(key, assignment.worker_id, bonus.amount, bonus.reason))
    return BonusPlan(to_pay, skipped)


def pay(gateway: Gateway, bonus: BonusInfo) -> str:
    """Pay one bonus unless MTurk already shows one on the assignment (thread-safe)."""
    if gateway.bonuses(bonus.assignment_id):
        return ALREADY
    token = bonus_token(gateway.target.endpoint, bonus.assignment_id)
    return PAID if gateway.send_bonus(bonus, token) else ALREADY


def record(endpoint: str, bonus: BonusInfo) -> None:
    """Remember a paid bonus once, even when two payers (a double click) both paid it, the
    second being a no-op at MTurk; the caller commits."""
    db.session.execute(insert_ignoring_duplicates(BonusPayment, [dict(
        endpoint=endpoint, assignment_id=bonus.assignment_id, worker_id=bonus.worker_id,
        amount_cents=cents(bonus.amount), reason=bonus.reason,
        request_token=bonus_token(endpoint, bonus.assignment_id), paid_at=utcnow())],
        ["endpoint", "assignment_id"]))
