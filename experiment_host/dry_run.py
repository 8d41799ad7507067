"""``--dry-run`` for every ``flask`` command that changes something: the option, and the one
place a command keeps or drops its database changes, so a dry run computes the real plan
(same checks, same lines) and keeps none of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .extensions import db

F = TypeVar("F", bound=Callable[..., Any])

DRY_RUN_HELP = "Only show what would happen; change nothing."


def dry_run_option(function: F) -> F:
    """Add ``--dry-run`` (the keyword ``dry_run``)."""
    return click.option("--dry-run", is_flag=True, help=DRY_RUN_HELP)(function)


def commit_unless(dry_run: bool) -> None:
    """Commit the session's changes, or on a dry run roll them back."""
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()

