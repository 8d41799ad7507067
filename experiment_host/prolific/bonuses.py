"""Bonuses through Prolific's two calls (set up a bulk payment, then pay it) with a ledger
that makes paying happen at most once: each state is committed before the next call, the
pay call is never retried unless Prolific refused it outright, and a bonus whose pay call
got no answer stays PAYING (unknown) until ``bonus-resolve`` settles it."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..dry_run import commit_unless
from ..experiments import registry
from ..extensions import db
from ..models import Run, utcnow
from ..runs import has_complete_data
from .client import ProlificClient, ProlificError
from .models import BonusState, ProlificBonus
from .review import mismatch
from .studies import to_cents

CSV_COLUMNS = ("submission_id", "amount", "reason")
#: Bonuses per bulk payment: a lost answer leaves at most this many unknown.
BULK_SIZE = 100
DEFAULT_REASON = "Bonus for your work on our study."
T = TypeVar("T")
R = TypeVar("R")


class BonusFileError(ValueError):
    """A bonus CSV that cannot be used."""


@dataclass(frozen=True)
class Wanted:
    submission_id: str
    cents: int
    reason: str


def max_bonus_cents(slug: str) -> int:
    """The most one run may be paid as a bonus (the experiment's ``max_bonus``)."""
    config = registry()[slug].config if slug in registry() else None
    if config is None:
        return 0
    return to_cents(config.bonus_limit)


def from_runs(runs: Iterable[Run]) -> list[Wanted]:
    return [Wanted(r.session_key, r.bonus_cents or 0, r.bonus_reason or DEFAULT_REASON)
            for r in runs if (r.bonus_cents or 0) > 0]


def read_csv(path: Path) -> list[Wanted]:
    """Bonuses from a CSV with columns submission_id, amount (e.g. 0.25), reason."""
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
            amount = Decimal((row["amount"] or "").strip())
        except InvalidOperation:
            amount = Decimal(0)
        if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise BonusFileError(f"{path}, line {line}: give a positive amount like 0.25.")
        found.append(Wanted((row["submission_id"] or "").strip(), to_cents(amount),
                            (row["reason"] or "").strip() or DEFAULT_REASON))
    return found


def ledger(api_url: str, submission_ids: Iterable[str]) -> dict[str, ProlificBonus]:
    ids = list(submission_ids)
    return {row.submission_id: row for row in db.session.scalars(select(ProlificBonus).where(
        ProlificBonus.api_url == api_url, ProlificBonus.submission_id.in_(ids)))} if ids else {}


def unpayable(bonus: Wanted, submission: dict[str, Any] | None, run: Run | None) -> str | None:
    """Why this bonus must not be paid, or None."""
    if submission is None:
        return "not a submission of this study"
    if submission.get("status") != "APPROVED":
        return f"not approved (Prolific: {submission.get('status')}); approve it first"
    if run is None:
        return "no run here for this submission (no data)"
    if problem := mismatch(run, submission):
        return problem
    if not has_complete_data(run):
        return f"no complete data (run {run.id} is {run.status.value})"
    limit = max_bonus_cents(run.experiment_slug)
    if bonus.cents > limit:
        return f"{bonus.cents / 100:.2f} is above the experiment's max_bonus {limit / 100:.2f}"
    return None


def plan(api_url: str, study_id: str, wanted: list[Wanted], items: dict[str, dict[str, Any]],
         runs: dict[str, Run]) -> tuple[list[ProlificBonus], list[tuple[str, str]]]:
    """Ledger rows to pay (new ones added as PLANNED, uncommitted) and (id, reason) skipped."""
    rows = ledger(api_url, [w.submission_id for w in wanted])
    to_pay: list[ProlificBonus] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for bonus in wanted:
        key, row = bonus.submission_id, rows.get(bonus.submission_id)
        if key in seen:
            skipped.append((key, "listed twice; one bonus per submission"))
        elif row is not None and row.state == BonusState.PAID:
            skipped.append((key, f"already paid {row.amount_cents / 100:.2f}"))
        elif row is not None and row.state == BonusState.PAYING:
            skipped.append((key, "payment state unknown (its pay call got no answer): run "
                                 f"`flask prolific bonus-resolve {row.study_id}`"))
        elif problem := unpayable(bonus, items.get(key), runs.get(key)):
            skipped.append((key, problem))
        else:
            if row is None:
                row = ProlificBonus(api_url=api_url, study_id=study_id, submission_id=key,
                                    participant_id=str(items[key]["participant_id"]),
                                    amount_cents=bonus.cents, reason=bonus.reason,
                                    state=BonusState.PLANNED)
                db.session.add(row)
            to_pay.append(row)
        seen.add(key)
    return to_pay, skipped


def in_parallel(items: list[T], work: Callable[[T], R], workers: int,
                tick: Callable[[int], None]) -> list[tuple[T, R | None, ProlificError | None]]:
    """Run the HTTP-only ``work`` over items concurrently; the database stays on this thread."""
    def attempt(item: T) -> tuple[T, R | None, ProlificError | None]:
        try:
            return item, work(item), None
        except ProlificError as error:
            return item, None, error

    results = []
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for result in pool.map(attempt, items):
            results.append(result)
            tick(1)
    return results


BUSY = "being paid by another request at the same time; not paid by this one"


def claim(chunk: list[ProlificBonus], bulk_id: str) -> bool:
    """Mark the chunk PAYING with its bulk payment only if no other request did first (one
    conditional UPDATE, so two payers of the same rows cannot both pay); caller commits."""
    ids = [row.id for row in chunk]
    payable = (BonusState.PLANNED, BonusState.SET_UP)
    taken = db.session.execute(
        update(ProlificBonus).where(ProlificBonus.id.in_(ids), ProlificBonus.state.in_(payable))
        .values(state=BonusState.PAYING, bulk_id=bulk_id)
        .execution_options(synchronize_session=False)).rowcount
    if taken != len(ids):  # another payer holds some: give back ours, pay none of them
        db.session.execute(
            update(ProlificBonus).where(ProlificBonus.id.in_(ids),
                                        ProlificBonus.bulk_id == bulk_id)
            .values(state=BonusState.SET_UP).execution_options(synchronize_session=False))
    for row in chunk:
        if taken == len(ids):
            set_committed_value(row, "state", BonusState.PAYING)
            set_committed_value(row, "bulk_id", bulk_id)
        else:
            db.session.expire(row, ["state", "bulk_id"])
    return taken == len(ids)


def _csv(rows: list[ProlificBonus]) -> str:
    return "\n".join(f"{row.submission_id},{row.amount_cents / 100:.2f}" for row in rows)


@dataclass
class PayResult:
    paid: int = 0
    unknown: int = 0
    failed: list[str] | None = None


def pay(client: ProlificClient, study_id: str, rows: list[ProlificBonus], workers: int,
        tick: Callable[[int], None] = lambda n: None) -> PayResult:
    """Set up and pay ``rows`` (committed PLANNED/SET_UP) in bulk payments, committing the
    ledger before and after each of the two calls."""
    result = PayResult(failed=[])
    chunks = [rows[i:i + BULK_SIZE] for i in range(0, len(rows), BULK_SIZE)]
    set_up = in_parallel(chunks, lambda chunk: client.post(
        "submissions/bonus-payments/", {"study_id": study_id, "csv_bonuses": _csv(chunk)},
        what=f"setting up {len(chunk)} bonus(es)"), workers, lambda n: None)
    ready: list[tuple[list[ProlificBonus], str]] = []
    for chunk, answer, error in set_up:
        if error is not None or not isinstance(answer, dict):
            result.failed.extend(f"{row.submission_id}: {error}" for row in chunk)
            continue
        if claim(chunk, str(answer["id"])):
            ready.append((chunk, str(answer["id"])))
        else:
            result.failed.extend(f"{row.submission_id}: {BUSY}" for row in chunk)
    db.session.commit()  # from here on a crash leaves PAYING: unknown, never paid again
    paid = in_parallel(ready, lambda item: client.post(
        f"bulk-bonus-payments/{item[1]}/pay/", what=f"paying {len(item[0])} bonus(es)",
        safe=False), workers, lambda n: None)
    for (chunk, _bulk_id), _answer, error in paid:
        for row in chunk:
            if error is None:
                row.state, row.paid_at = BonusState.PAID, utcnow()
                result.paid += 1
            elif error.maybe_applied:
                result.unknown += 1
            else:  # refused outright: nothing was paid, the next run may pay it
                row.state = BonusState.SET_UP
                result.failed.append(f"{row.submission_id}: {error}")
        tick(len(chunk))
    db.session.commit()
    return result


def _minor_units(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def paid_amounts(bonus_payments: Any) -> list[int]:
    """The amounts (minor units) of a submission's ``bonus_payments``, which Prolific types
    only as a list of anything: integers, or objects carrying an ``amount``."""
    if not isinstance(bonus_payments, list):
        return []
    found = []
    for entry in bonus_payments:
        amount = _minor_units(entry.get("amount") if isinstance(entry, dict) else entry)
        if amount is not None:
            found.append(amount)
    return found


def resolve(client: ProlificClient, api_url: str, study_id: str, unpaid: bool,
            dry_run: bool = False) -> tuple[int, int, list[ProlificBonus]]:
    """Settle PAYING bonuses: paid when Prolific's submission lists the amount; with
    ``unpaid``, the others may be paid again. (paid, reopened, still unknown); a dry run
    counts the same and rolls back."""
    rows = list(db.session.scalars(select(ProlificBonus).where(
        ProlificBonus.api_url == api_url, ProlificBonus.study_id == study_id,
        ProlificBonus.state == BonusState.PAYING)))
    paid = reopened = 0
    still: list[ProlificBonus] = []
    for row in rows:
        submission = client.get(f"submissions/{row.submission_id}/",
                                what=f"reading submission {row.submission_id}")
        if row.amount_cents in paid_amounts(submission.get("bonus_payments")):
            row.state, row.paid_at = BonusState.PAID, utcnow()
            paid += 1
        elif unpaid:
            row.state, row.bulk_id = BonusState.SET_UP, None
            reopened += 1
        else:
            still.append(row)
    commit_unless(dry_run)
    return paid, reopened, still
