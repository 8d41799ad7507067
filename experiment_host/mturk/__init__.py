"""MTurk requester side: the boto3 gateway and the ``flask hits`` commands built on it.

Importing the package imports its models, so ``db.create_all()`` makes their tables.
"""

from __future__ import annotations

from flask.cli import AppGroup

from . import (
    models,  # noqa: F401  (the package's tables)
    rehearsal,
)
from .errors import MTurkError
from .question import QuestionError

__all__ = ["MTurkError", "QuestionError", "hits_group", "rehearsal"]


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
