"""Granting and revoking access, each logged in the audit log."""

from __future__ import annotations

from sqlalchemy import delete, select

from ..audit import actor, audit
from ..extensions import db
from ..researcher.accounts import AccountError, Researcher, get_researcher
from .models import ExperimentAccess, Level


class AccessError(AccountError):
    """An access change that cannot be made, with a message for the user."""


def grant(slug: str, name: str, level: Level | str) -> ExperimentAccess:
    """Give researcher ``name`` ``level`` on ``slug`` (replacing their level); caller commits."""
    try:
        wanted = Level(level)
    except ValueError as exc:
        raise AccessError(f"Unknown level {level!r}; use view, edit or owner.") from exc
    researcher = get_researcher(name)
    access = db.session.get(ExperimentAccess, (slug, researcher.id))
    if access is None:
        access = ExperimentAccess(experiment_slug=slug, researcher_id=researcher.id)
        db.session.add(access)
    access.level, access.granted_by = wanted, actor()
    audit("grant", slug, f"{name}: {wanted.value}")
    db.session.flush()
    return access


def revoke(slug: str, name: str) -> None:
    """Take researcher ``name``'s access to ``slug`` away; the caller commits."""
    researcher = get_researcher(name)
    gone = db.session.execute(delete(ExperimentAccess).where(
        ExperimentAccess.experiment_slug == slug,
        ExperimentAccess.researcher_id == researcher.id)).rowcount
    if not gone:
        raise AccessError(f"{name!r} has no access to {slug!r} of their own.")
    audit("revoke", slug, name)


def collaborators(slug: str) -> list[tuple[str, Level]]:
    """Who has access to ``slug`` (admins aside), by name."""
    rows = db.session.execute(
        select(Researcher.name, ExperimentAccess.level)
        .join(ExperimentAccess, ExperimentAccess.researcher_id == Researcher.id)
        .where(ExperimentAccess.experiment_slug == slug).order_by(Researcher.name))
    return [(name, level) for name, level in rows]
