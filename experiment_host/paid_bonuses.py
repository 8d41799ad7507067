"""Bonuses paid per run, read from each platform's own ledger (``flask hits bonus`` and
``flask prolific bonus``), so runs.csv shows what was paid beside what a task recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, Subquery, func, select, union_all

#: A platform's ledger of paid bonuses as rows (platform, session_key, amount_cents): one row
#: per payment, ``session_key`` the run's (MTurk assignment id, Prolific session id).
PaidBonuses = Callable[[], Select[Any]]


def sources() -> tuple[PaidBonuses, ...]:
    """Every ledger of paid bonuses. A platform that pays bonuses adds its function here."""
    from .mturk import paid_bonuses as mturk_paid
    from .prolific import paid_bonuses as prolific_paid

    return (mturk_paid, prolific_paid)


def paid_per_run() -> Subquery:
    """(platform, session_key, paid_cents): the bonus paid so far to each run's session."""
    ledgers = [source() for source in sources()]
    rows = (ledgers[0] if len(ledgers) == 1 else union_all(*ledgers)).subquery("paid_rows")
    return (select(rows.c.platform, rows.c.session_key,
                   func.sum(rows.c.amount_cents).label("paid_cents"))
            .group_by(rows.c.platform, rows.c.session_key).subquery("paid_bonuses"))
