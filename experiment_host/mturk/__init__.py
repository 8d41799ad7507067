"""MTurk requester side: the boto3 gateway and the ``flask hits`` commands built on it.

Importing the package imports its models, so ``db.create_all()`` makes their tables.
"""

from __future__ import annotations

from typing import Any

from flask.cli import AppGroup
from sqlalchemy import Select, String, literal, select

from ..statuses import Platform
from . import (
    actions,
    models,
    rehearsal,
)
from .bonuses import Wanted
from .errors import MTurkError
from .fees import from_cents, parse_money
from .gateway import AssignmentInfo, Gateway, gateway_for
from .models import BonusPayment, Hit
from .posting import project_hits
from .question import QuestionError, experiment_url
from .review import data_problem

__all__ = [
    "AssignmentInfo",
    "BonusPayment",
    "Gateway",
    "Hit",
    "MTurkError",
    "QuestionError",
    "Wanted",
    "actions",
    "data_problem",
    "experiment_url",
    "from_cents",
    "gateway_for",
    "hits_group",
    "paid_bonuses",
    "parse_money",
    "project_hits",
    "rehearsal",
]


def paid_bonuses() -> Select[Any]:
    """Bonuses ``flask hits bonus`` paid, as (platform, session_key, amount_cents) rows."""
    payment = models.BonusPayment
    return select(literal(Platform.MTURK.value, String(20)).label("platform"),
                  payment.assignment_id.label("session_key"),
                  payment.amount_cents.label("amount_cents"))



def hits_group() -> AppGroup:
    """``flask hits`` with every one of its commands, each named here."""
    from .cli import HitsGroup, balance_command, create_command, list_command, status_command
    from .cli_bonus import bonus_command
    from .cli_manage import (
        delete_command,
        exclude_previous_command,
        expire_command,
        extend_command,
        notify_command,
        sync_command,
    )
    from .cli_review import approve_command, reject_command

    group = HitsGroup("hits", help="Create and manage MTurk HITs (sandbox unless --live).")
    for command in (create_command, list_command, status_command, balance_command,
                    approve_command, reject_command, bonus_command, expire_command,
                    extend_command, delete_command, exclude_previous_command, notify_command,
                    sync_command):
        group.add_command(command)
    return group
