"""Money for MTurk in Decimal dollars (never floats, so no cent goes astray): Amazon's fee
tiers, and splitting a HIT into batches that stay in the lower tier."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
MONEY_PATTERN = re.compile(r"^[0-9]+(\.)?[0-9]{0,2}$")
#: Amazon's commission on rewards and bonuses; 40% on HITs with 10 or more assignments.
BASE_FEE_RATE = Decimal("0.20")
LARGE_HIT_FEE_RATE = Decimal("0.40")
LARGE_HIT_ASSIGNMENTS = 10
#: The most assignments a HIT can have and still pay the 20% rate.
SMALL_BATCH = LARGE_HIT_ASSIGNMENTS - 1
MINIMUM_FEE = CENT


def parse_money(text: str) -> Decimal:
    """A USD amount as MTurk accepts it ("0.50"), or ValueError saying what is wrong."""
    if not MONEY_PATTERN.match(text.strip()):
        raise ValueError(f"{text!r} is not a dollar amount like 0.50")
    try:
        return Decimal(text.strip()).quantize(CENT)
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a dollar amount like 0.50") from exc


def money_text(amount: Decimal) -> str:
    """The amount as MTurk's money string, e.g. "1.20"."""
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):.2f}"


def cents(amount: Decimal) -> int:
    """Whole cents of a dollar amount."""
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_cents(value: int) -> Decimal:
    """Dollars from whole cents."""
    return (Decimal(value) / 100).quantize(CENT)


def fee_rate(assignments: int) -> Decimal:
    """Amazon's commission rate for a HIT with this many assignments."""
    return LARGE_HIT_FEE_RATE if assignments >= LARGE_HIT_ASSIGNMENTS else BASE_FEE_RATE


def fee_per_payment(amount: Decimal, assignments: int) -> Decimal:
    """Amazon's fee on one reward or bonus payment (at least one cent)."""
    if amount <= 0:
        return Decimal("0.00")
    fee = (amount * fee_rate(assignments)).quantize(CENT, rounding=ROUND_HALF_UP)
    return max(fee, MINIMUM_FEE)


@dataclass(frozen=True)
class Batch:
    """One HIT of a plan: its position and its number of assignments."""

    index: int
    assignments: int


@dataclass(frozen=True)
class CostPlan:
    """What a set of HITs will cost: rewards, Amazon's fees and the total."""

    reward: Decimal
    batches: tuple[Batch, ...]

    @property
    def assignments(self) -> int:
        return sum(b.assignments for b in self.batches)

    @property
    def rewards_total(self) -> Decimal:
        return self.reward * self.assignments

    @property
    def fees_total(self) -> Decimal:
        return sum((fee_per_payment(self.reward, b.assignments) * b.assignments
                    for b in self.batches), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.rewards_total + self.fees_total

    @property
    def large_tier(self) -> bool:
        """True when some HIT of the plan pays the 40% fee."""
        return any(b.assignments >= LARGE_HIT_ASSIGNMENTS for b in self.batches)


def split_batches(assignments: int, batch_size: int = SMALL_BATCH) -> tuple[Batch, ...]:
    """Split ``assignments`` into HITs of at most ``batch_size`` assignments, near-equal."""
    count = -(-assignments // batch_size)
    base, extra = divmod(assignments, count)
    return tuple(Batch(i + 1, base + (1 if i < extra else 0)) for i in range(count))


def plan_cost(reward: Decimal, assignments: int, batched: bool) -> CostPlan:
    """The cost of posting ``assignments`` as one HIT, or as batches of at most 9."""
    batches = split_batches(assignments) if batched else (Batch(1, assignments),)
    return CostPlan(reward, batches)
