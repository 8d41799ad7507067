"""MTurk requester side: the boto3 gateway and the ``flask hits`` commands built on it.

Importing the package imports its models, so ``db.create_all()`` makes their tables.
"""

from __future__ import annotations

from flask.cli import AppGroup

from . import (
    actions,
    models,  # noqa: F401  (the package's tables)
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
    "parse_money",
    "project_hits",
    "rehearsal",
]


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
