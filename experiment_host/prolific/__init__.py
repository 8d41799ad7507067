"""Prolific requester side: the API client and the ``flask prolific`` commands built on it.

Importing the package imports its models, so ``db.create_all()`` makes their tables.
"""

from __future__ import annotations

from typing import Any

from flask.cli import AppGroup
from sqlalchemy import Select, String, literal, select

from ..statuses import Platform
from . import models
from .client import ProlificClient, ProlificError, Settings
from .hooks import bp as hooks_bp
from .studies import internal_name, study_body

__all__ = ["ProlificClient", "ProlificError", "Settings", "hooks_bp", "internal_name",
           "paid_bonuses", "prolific_group", "study_body"]


def paid_bonuses() -> Select[Any]:
    """Bonuses ``flask prolific bonus`` paid, as (platform, session_key, amount_cents) rows."""
    bonus = models.ProlificBonus
    return (select(literal(Platform.PROLIFIC.value, String(20)).label("platform"),
                   bonus.submission_id.label("session_key"),
                   bonus.amount_cents.label("amount_cents"))
            .where(bonus.state == models.BonusState.PAID))


def prolific_group() -> AppGroup:
    """``flask prolific`` with every one of its commands, each named here."""
    from .cli import (
        ProlificGroup,
        add_places_command,
        create_command,
        list_command,
        status_command,
        transition_command,
    )
    from .cli_review import (
        approve_command,
        bonus_command,
        bonus_resolve_command,
        message_command,
        reject_command,
        subscribe_command,
        sync_command,
    )

    group = ProlificGroup("prolific", help="Create and run Prolific studies (PROLIFIC_API_URL).")
    commands = [create_command, *(transition_command(w) for w in
                                  ("publish", "pause", "resume", "stop")),
                add_places_command, list_command, status_command, approve_command,
                reject_command, bonus_command, bonus_resolve_command, sync_command,
                message_command, subscribe_command]
    for command in commands:
        group.add_command(command)
    return group
