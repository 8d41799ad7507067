"""What the ``flask hits`` commands remember between runs (HITs posted, bonuses paid,
exclusion qualifications), so a re-run command neither repeats nor forgets its work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime, utcnow


class Hit(db.Model):
    """A HIT posted by ``flask hits create``, on one MTurk endpoint."""

    __tablename__ = "mturk_hits"
    __table_args__ = (
        UniqueConstraint("endpoint", "hit_id"),
        UniqueConstraint("endpoint", "request_token"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(255))
    sandbox: Mapped[bool] = mapped_column(Boolean)
    hit_id: Mapped[str] = mapped_column(String(64))
    hit_group_id: Mapped[str] = mapped_column(String(64))
    experiment_slug: Mapped[str] = mapped_column(String(64), index=True)
    #: ``--round`` of the create command; a new round posts the same experiment again.
    round: Mapped[int] = mapped_column(Integer, default=1)
    batch_index: Mapped[int] = mapped_column(Integer, default=1)
    batch_count: Mapped[int] = mapped_column(Integer, default=1)
    request_token: Mapped[str] = mapped_column(String(64))
    max_assignments: Mapped[int] = mapped_column(Integer)
    reward_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BonusPayment(db.Model):
    """A bonus paid on an assignment; one per assignment, so it is never paid twice."""

    __tablename__ = "mturk_bonus_payments"
    __table_args__ = (UniqueConstraint("endpoint", "assignment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(255))
    assignment_id: Mapped[str] = mapped_column(String(64))
    worker_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    request_token: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExclusionQualification(db.Model):
    """The qualification type marking everyone who took part in an experiment (or related)."""

    __tablename__ = "mturk_exclusion_qualifications"
    __table_args__ = (UniqueConstraint("endpoint", "experiment_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(255))
    experiment_slug: Mapped[str] = mapped_column(String(64))
    qualification_type_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
