"""The tables of study links: batches, their links, the places a batch's runs hold, and
what each link's entry brought along (the query parameters an end redirect fills its
placeholders from)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime, utcnow


class LinkType(enum.StrEnum):
    """JATOS's four link types: personal or general, single run or many."""

    PERSONAL_SINGLE = "personal-single"
    PERSONAL_MULTIPLE = "personal-multiple"
    GENERAL_SINGLE = "general-single"
    GENERAL_MULTIPLE = "general-multiple"

    @property
    def personal(self) -> bool:
        return self in (LinkType.PERSONAL_SINGLE, LinkType.PERSONAL_MULTIPLE)

    @property
    def single(self) -> bool:
        return self in (LinkType.PERSONAL_SINGLE, LinkType.GENERAL_SINGLE)


ALL_TYPES = ",".join(t.value for t in LinkType)


class LinkBatch(db.Model):
    """A group of links of one experiment, with its own cap, switches and end redirect."""

    __tablename__ = "link_batches"
    __table_args__ = (UniqueConstraint("experiment_slug", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    max_participants: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The link types this batch allows, comma-separated (a switched-off type is absent).
    allowed_types: Mapped[str] = mapped_column(String(120), default=ALL_TYPES)
    end_redirect_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def allows(self, link_type: LinkType) -> bool:
        return link_type.value in self.allowed_types.split(",")


class StudyLink(db.Model):
    """One link: an unguessable token for the URL and a short code to type."""

    __tablename__ = "study_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("link_batches.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    link_type: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    confirm_first: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def type(self) -> LinkType:
        return LinkType(self.link_type)


class LinkEntry(db.Model):
    """The query parameters a link's run arrived with, for the end redirect's placeholders."""

    __tablename__ = "link_entries"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("study_links.id"), index=True)
    params: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LinkPlace(db.Model):
    """A batch place taken by one run's session, reserved before the run is created so that
    simultaneous arrivals cannot take more places than the batch's maximum."""

    __tablename__ = "link_places"

    batch_id: Mapped[int] = mapped_column(ForeignKey("link_batches.id"), primary_key=True)
    session_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
