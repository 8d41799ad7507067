"""What ``flask prolific`` remembers between runs (studies created, submission statuses seen,
bonuses set up and paid, messages sent), so a re-run command neither repeats nor forgets its
work; the bonus ledger is what keeps Prolific's non-idempotent payment from paying twice."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime, utcnow


class BonusState(enum.StrEnum):
    """A bonus's way through Prolific's two calls; each state is committed before the next call."""

    PLANNED = "planned"    # in our ledger, no call made yet
    SET_UP = "set_up"      # payable again: Prolific refused its pay call, or it was settled
                           # as unpaid (``bonus-resolve --unpaid``)
    PAYING = "paying"      # the pay call was sent: paid, unless proven otherwise (unknown)
    PAID = "paid"          # Prolific accepted the pay call


class ProlificStudy(db.Model):
    """A study made by ``flask prolific create``, recorded before Prolific is asked, so a
    lost answer is found again by its ``internal_name`` instead of creating a second study."""

    __tablename__ = "prolific_studies"
    __table_args__ = (
        UniqueConstraint("api_url", "internal_name"),
        UniqueConstraint("api_url", "study_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_url: Mapped[str] = mapped_column(String(255))
    experiment_slug: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1)
    internal_name: Mapped[str] = mapped_column(String(128))
    study_id: Mapped[str | None] = mapped_column(String(64))
    reward_cents: Mapped[int] = mapped_column(Integer)
    places: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProlificSubmission(db.Model):
    """The last status Prolific reported for a submission (``sync``, ``approve``, ``reject``)."""

    __tablename__ = "prolific_submissions"
    __table_args__ = (UniqueConstraint("api_url", "submission_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_url: Mapped[str] = mapped_column(String(255))
    study_id: Mapped[str] = mapped_column(String(64), index=True)
    submission_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProlificBonus(db.Model):
    """One bonus per submission: the ledger row is committed before and after each call."""

    __tablename__ = "prolific_bonuses"
    __table_args__ = (UniqueConstraint("api_url", "submission_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_url: Mapped[str] = mapped_column(String(255))
    study_id: Mapped[str] = mapped_column(String(64), index=True)
    submission_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[BonusState] = mapped_column(Enum(
        BonusState, name="prolific_bonus_state", native_enum=False, length=20,
        values_callable=lambda members: [m.value for m in members], validate_strings=True))
    #: The bulk bonus payment (Prolific's id) that holds it, once set up.
    bulk_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProlificMessage(db.Model):
    """A message sent to one participant, so re-running ``message`` does not resend it."""

    __tablename__ = "prolific_messages"
    __table_args__ = (UniqueConstraint("api_url", "study_id", "participant_id", "body_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_url: Mapped[str] = mapped_column(String(255))
    study_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(64))
    body_hash: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
