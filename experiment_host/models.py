"""Typed SQLAlchemy 2.0 models for experiments, runs and trial records: the invariants that
must hold whatever code writes (one run per session, one record per seq) are constraints."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .statuses import Platform, RunStatus
from .tallies import install_on_create


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC, on every database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


#: Plain JSON, not JSONB, on PostgreSQL: it keeps each record's key order (the export's
#: column order follows it) and accepts every string JSON can carry, "\u0000" included.
JSONData = JSON()


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class ExperimentRow(db.Model):
    """One row per experiment slug: preview counts, and the lock taken on arrival."""

    __tablename__ = "experiments"

    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    previews: Mapped[int] = mapped_column(Integer, default=0)
    arrivals: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Run(db.Model):
    """One participant's run through one experiment."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("experiment_slug", "platform", "session_key"),
        UniqueConstraint("experiment_slug", "platform", "worker_id", "attempt"),
        # Leading (slug, status) serves status filters; last_seen_at the abandonment cutoff;
        # condition and is_test make it covering for the count of active runs at every arrival.
        Index("ix_runs_experiment_status_seen_condition",
              "experiment_slug", "status", "last_seen_at", "condition", "is_test"),
        Index("ix_runs_experiment_condition", "experiment_slug", "condition", "status"),
        # The researcher dashboard: completions over time, recent activity. No index holds a
        # column that every save changes (record_count, next_seq, stored_bytes, the request
        # budget), nor may one: a save then rewrites the row in place (saving/run_guard.py).
        Index("ix_runs_experiment_completed", "experiment_slug", "completed_at"),
        Index("ix_runs_experiment_last_seen", "experiment_slug", "last_seen_at"),
        CheckConstraint("record_count >= 0", name="record_count_not_negative"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_slug: Mapped[str] = mapped_column(ForeignKey("experiments.slug"))
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    #: MTurk workerId, Prolific PROLIFIC_PID, or a generated id for plain links.
    worker_id: Mapped[str] = mapped_column(String(255))
    #: MTurk assignmentId, Prolific SESSION_ID, or a generated id for plain links.
    session_key: Mapped[str] = mapped_column(String(255))
    #: The key of the run's latest page (task or consent page): its token claims it, so only
    #: the page served last can save (``runs.open_page``). In no index: see the table args.
    page_key: Mapped[str | None] = mapped_column(String(64))
    #: MTurk hitId or Prolific STUDY_ID.
    study_key: Mapped[str | None] = mapped_column(String(255))
    #: MTurk turkSubmitTo (already checked against MTURK_SUBMIT_ORIGINS).
    submit_to: Mapped[str | None] = mapped_column(String(255))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    condition: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[RunStatus] = mapped_column(
        _enum(RunStatus, "run_status"), default=RunStatus.IN_PROGRESS
    )
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    #: One more than the highest stored seq: where a resumed page continues numbering.
    next_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    completion_code: Mapped[str | None] = mapped_column(String(64))
    #: How the task ended the run (``ExperimentHost.finish({outcome})``): "completed" or one
    #: of the experiment's outcomes; set once, with completion (the first finish wins).
    outcome: Mapped[str | None] = mapped_column(String(32))
    bonus_cents: Mapped[int | None] = mapped_column(Integer)
    bonus_reason: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Per-run request budget: the current minute (epoch minutes) and requests in it.
    rate_window: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rate_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: A pilot, sandbox or simulator run: in no quota, tally or export unless asked for.
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Bytes of the records' data stored (as JSON text), against RUN_MAX_BYTES.
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: trials.csv columns this run's records brought, against RUN_MAX_NEW_COLUMNS.
    columns_added: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    records: Mapped[list[TrialRecord]] = relationship(
        back_populates="run", lazy="write_only", passive_deletes=True
    )


class TrialRecord(db.Model):
    """One trial record saved by the task page; (run, seq) is unique."""

    __tablename__ = "trial_records"
    __table_args__ = (
        UniqueConstraint("run_id", "seq"),
        CheckConstraint("seq >= 0", name="seq_not_negative"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True
    )
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONData)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[Run] = relationship(back_populates="records")


#: Longest record key (flattened) that gets a trials.csv column of its own.
MAX_COLUMN_NAME = 255


class ExperimentColumn(db.Model):
    """One flattened record key of an experiment: a trials.csv column (see ``columns.py``).

    ``position`` is the order keys were first stored in; the flags say whether the key has
    been seen in trial records and in jsPsych checkpoint records.
    """

    __tablename__ = "experiment_columns"
    __table_args__ = (UniqueConstraint("experiment_slug", "position"),)

    experiment_slug: Mapped[str] = mapped_column(ForeignKey("experiments.slug"),
                                                 primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_COLUMN_NAME), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    in_trials: Mapped[bool] = mapped_column(Boolean, default=False)
    in_checkpoints: Mapped[bool] = mapped_column(Boolean, default=False)


class RateLimit(db.Model):
    """Fixed-window request counters shared by every process (e.g. new runs per IP)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ConditionTally(db.Model):
    """Runs per condition, kept by triggers: held for good (``RunStatus.COUNTED``), in progress."""

    __tablename__ = "condition_tallies"

    experiment_slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    condition: Mapped[str] = mapped_column(String(64), primary_key=True)
    held: Mapped[int] = mapped_column(Integer, default=0)
    in_progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# The tally triggers belong to the runs table's definition, like its constraints.
install_on_create(Run.__table__)
