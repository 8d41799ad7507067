"""The access table: one row per (experiment, researcher) with a level."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime, utcnow


class Level(enum.StrEnum):
    """What a researcher may do with an experiment; each level includes those before it."""

    VIEW = "view"  # the dashboard and the exports
    EDIT = "edit"  # everything else: test runs, money commands, deletion, reload
    OWNER = "owner"  # edit, and who else has access

    @property
    def rank(self) -> int:
        return list(Level).index(self)


class ExperimentAccess(db.Model):
    """A researcher's access to one experiment (admins need none)."""

    __tablename__ = "experiment_access"

    experiment_slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    researcher_id: Mapped[int] = mapped_column(
        ForeignKey("researchers.id", ondelete="CASCADE"), primary_key=True, index=True)
    level: Mapped[Level] = mapped_column(Enum(
        Level, name="access_level", native_enum=False, length=10,
        values_callable=lambda members: [m.value for m in members], validate_strings=True))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Who granted it (a researcher's name, or cli:<user>).
    granted_by: Mapped[str] = mapped_column(String(80), default="")
