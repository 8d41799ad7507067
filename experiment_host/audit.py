"""The audit log: who exported, approved, rejected, paid, deleted, purged or changed access,
and when, kept in the database beside the data it is about. Entries say that something was
done, never the participant data it was done to."""

from __future__ import annotations

import getpass
from datetime import datetime

from flask import g, has_app_context
from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .models import UTCDateTime, utcnow


class AuditEntry(db.Model):
    """One researcher action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: A researcher's name, or cli:<operating-system user> for a command.
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    experiment_slug: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


def actor() -> str:
    """Who is acting: the researcher of this request or named for this command (``--as``),
    else the command's operating-system user."""
    researcher = g.get("researcher") if has_app_context() else None
    if researcher is not None:
        return researcher.name
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except (OSError, KeyError):
        return "cli"


def audit(action: str, slug: str | None, detail: str = "") -> None:
    """Log ``action`` (export, approve, reject, pay, delete, purge-tests, grant, revoke, ...)
    on experiment ``slug`` by the current actor; the caller's transaction commits it."""
    db.session.add(AuditEntry(actor=actor(), action=action[:40], experiment_slug=slug,
                              detail=detail, at=utcnow()))


def audit_entries(slug: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest entries (of one experiment, or of all)."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if slug is not None:
        statement = statement.where(AuditEntry.experiment_slug == slug)
    return list(db.session.scalars(statement))
