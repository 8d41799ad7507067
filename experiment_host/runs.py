"""A participant's way into a run: previews, entry (create / resume / move), consent. A
worker id is not a secret, so entry decides who may take over a run, and when, here."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, Update, bindparam, false, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from . import tokens
from .conditions import abandon_cutoff, create_run, lock_experiment
from .database import increment, write_transaction
from .experiments import Experiment
from .extensions import db
from .models import ExperimentRow, Run, RunStatus, utcnow
from .platforms import Identity


@dataclass(frozen=True)
class Entered:
    run: Run
    resumed: bool


@dataclass(frozen=True)
class AlreadyTookPart:
    run: Run


@dataclass(frozen=True)
class ExperimentFull:
    pass


@dataclass(frozen=True)
class Excluded:
    """The participant took part in an experiment this one excludes (``exclude_experiments``):
    turned away before any run is created."""


@dataclass(frozen=True)
class OpenElsewhere:
    """The worker's run is open, or completed, under another assignment that may still be
    worked on or submitted: the newcomer may not have it (and is told nothing of it)."""


@dataclass(frozen=True)
class Refused:
    """The caller's ``admit`` check refused a new run (nothing was created): its answer."""

    answer: Any


EntryOutcome = (Entered | AlreadyTookPart | ExperimentFull | OpenElsewhere | Refused
                | Excluded)

#: Checks an arrival under a new assignment must pass before a run may be created or moved
#: to it (device screening, the per-IP limit): None to admit it, or an answer that refuses it.
#: Its writes are committed when it admits.
Admit = Callable[[], Any]


def record_preview(slug: str) -> None:
    """Count one preview of the experiment (for the dashboard funnel)."""
    increment(ExperimentRow, {"slug": slug}, "previews")


def _run_for_session(slug: str, identity: Identity) -> Run | None:
    return db.session.execute(_session_run(), {
        "slug": slug, "platform": identity.platform, "session_key": identity.session_key,
    }).scalar_one_or_none()


def _latest_run_of_worker(slug: str, identity: Identity) -> Run | None:
    return db.session.execute(_latest_worker_run(), {
        "slug": slug, "platform": identity.platform, "worker_id": identity.worker_id,
    }).scalar_one_or_none()


# Every arrival runs both lookups: they are built once and take their values as parameters.
@cache
def _session_run() -> Select[tuple[Run]]:
    return select(Run).where(Run.experiment_slug == bindparam("slug"),
                             Run.platform == bindparam("platform"),
                             Run.session_key == bindparam("session_key"))


@cache
def _latest_worker_run() -> Select[tuple[Run]]:
    return (
        select(Run)
        .where(Run.experiment_slug == bindparam("slug"), Run.platform == bindparam("platform"),
               Run.worker_id == bindparam("worker_id"))
        .order_by(Run.attempt.desc())
        .limit(1)
    )


def _revive(run: Run, *, decline_stands: bool = False) -> None:
    if run.status in RunStatus.REVIVABLE and not (
            decline_stands and run.status == RunStatus.DECLINED):
        if run.status == RunStatus.DECLINED:
            run.consented_at = None
        run.status = RunStatus.IN_PROGRESS
    run.last_seen_at = utcnow()


def _take_over(run: Run, identity: Identity) -> Run:
    run.session_key = identity.session_key
    run.study_key = identity.study_key
    run.submit_to = identity.submit_to
    _revive(run)
    return run


#: A new run's columns that stay NULL unless :func:`_create` sets them: the nullable ones
#: without a database default. The insert names every column but ``id`` and ``condition``,
#: so a column added with a default, or NOT NULL, must be set there: until it is, every
#: arrival fails (a missing parameter) rather than storing NULL in its place.
_NULL_UNLESS_SET = [c.key for c in Run.__table__.columns
                    if c.nullable and c.server_default is None and c.key != "condition"]


def took_part_in_excluded(experiment: Experiment, identity: Identity) -> bool:
    """Whether the participant (same platform, same id) has a run, not a test run, in an
    experiment this one names in ``exclude_experiments``, whatever its status."""
    slugs = experiment.config.hit.qualifications.exclude_experiments
    if not slugs:
        return False
    return db.session.scalar(
        select(Run.id).where(Run.experiment_slug.in_(slugs), Run.platform == identity.platform,
                             Run.worker_id == identity.worker_id, Run.is_test.is_(false()))
        .limit(1)) is not None


def _create(experiment: Experiment, identity: Identity, attempt: int, user_agent: str,
            abandon_minutes: float, is_test: bool) -> Run | None:
    """A new run with its condition, committed (:func:`create_run`); None if the experiment
    is full. The run comes back outside the session: :func:`enter` adds it after its last
    commit, so that serving its page reads nothing back."""
    now = utcnow()
    columns: dict[str, Any] = dict.fromkeys(_NULL_UNLESS_SET)
    columns.update(
        experiment_slug=experiment.slug,
        platform=identity.platform,
        worker_id=identity.worker_id,
        session_key=identity.session_key,
        study_key=identity.study_key,
        submit_to=identity.submit_to,
        attempt=attempt,
        status=RunStatus.IN_PROGRESS,
        record_count=0,
        next_seq=0,
        user_agent=user_agent.replace("\x00", "")[:1000],  # PostgreSQL's text holds no NUL
        page_key=new_page_key(),  # its first page's: no other page of it exists yet
        created_at=now,
        last_seen_at=now,
        rate_window=0,
        rate_count=0,
        stored_bytes=0,
        columns_added=0,
        is_test=is_test,
    )
    created = create_run(experiment, columns, abandon_minutes)
    if created is None:
        return None
    run_id, condition = created
    run = Run(id=run_id, condition=condition, **columns)
    make_transient_to_detached(run)  # as stored: every column is set, nothing to reload
    return run


def _enter_once(experiment: Experiment, identity: Identity, user_agent: str,
                abandon_minutes: float, admit: Admit, is_test: bool) -> EntryOutcome:
    """Decide one arrival by the repeat rule (documented in the README).

    Unless the experiment allows repeats, a worker has one run per experiment. A newcomer with
    a worker's id and another assignment (Prolific: session) gets that worker's run only once
    the run's own assignment can no longer be worked on: the run was returned, abandoned or
    declined (a platform sync may have said so), or it has been quiet for longer than the
    experiment's abandon window. Then the run moves to the new assignment and continues where
    it stopped, keeping its condition and trials; tokens issued for the old assignment stop
    working. Otherwise the newcomer is refused and nothing of the run is shown or changed: a
    run in progress and active, or a completed one (its assignment may well be submitted
    already, and moving it would part its data from that assignment). A worker whose run was
    submitted, approved or rejected is turned away at once. Every other arrival under a new
    assignment passes the caller's ``admit`` checks (device, new runs per IP) before the run's
    state is judged, whether it then creates a run, moves one or is refused.
    """
    slug = experiment.slug
    existing = _run_for_session(slug, identity)
    if existing is not None:
        # Same assignment again (reload, crash): a decline stands, a sync's "returned" doesn't.
        _revive(existing, decline_stands=True)
        return Entered(existing, resumed=True)
    if not is_test and took_part_in_excluded(experiment, identity):
        return Excluded()
    previous = _latest_run_of_worker(slug, identity)
    returning = None if experiment.config.allow_repeat else previous
    if returning is not None and returning.status in RunStatus.FINAL_FOR_WORKER:  # answered
        return AlreadyTookPart(returning)  # without waiting for the lock, and not counted
    refusal = admit()  # an arrival that may move a run counts like one that creates one
    if refusal is not None:
        db.session.rollback()
        return Refused(refusal)
    db.session.commit()  # what admit counted stands; the lock below is held without it
    if returning is not None:
        return _come_back(experiment, returning, identity, abandon_minutes)
    attempt = previous.attempt + 1 if previous is not None else 1
    run = _create(experiment, identity, attempt, user_agent, abandon_minutes, is_test)
    return Entered(run, resumed=False) if run else ExperimentFull()


def _come_back(experiment: Experiment, previous: Run, identity: Identity,
               abandon_minutes: float) -> EntryOutcome:
    """A worker whose run of this experiment began under another assignment: turned away,
    refused while that assignment may still be worked on, or the run moves here.

    Decided on the run as it is once the experiment is locked (a revived run holds a
    condition slot again) and the run's row too (PostgreSQL), so that a save of the run's
    own page either lands before and counts as activity, or after and finds it moved.
    """
    lock_experiment(experiment.slug)
    db.session.refresh(previous, with_for_update=True)
    if previous.status in RunStatus.FINAL_FOR_WORKER:
        return AlreadyTookPart(previous)
    if previous.session_key == identity.session_key:  # this assignment's run, created meanwhile
        return Entered(previous, resumed=True)
    if not may_move(previous, abandon_cutoff(experiment, abandon_minutes, utcnow())):
        db.session.rollback()  # nothing changes, not even the experiment's arrival count
        return OpenElsewhere()
    return Entered(_take_over(previous, identity), resumed=True)


def may_move(run: Run, quiet_before: datetime) -> bool:
    """Whether the run's assignment can no longer be worked on, so the run may move to
    another: it was returned, abandoned or declined, or it is in progress but was last
    seen before ``quiet_before``. A completed run stays with the assignment it may be
    submitted under."""
    return run.status in RunStatus.REVIVABLE or (
        run.status == RunStatus.IN_PROGRESS and run.last_seen_at < quiet_before)


def enter(experiment: Experiment, identity: Identity, user_agent: str,
          abandon_minutes: float, admit: Admit = lambda: None,
          is_test: bool = False) -> EntryOutcome:
    """Create, resume or move the identity's run to its assignment, and commit.

    A new worker's run is created under the experiment's lock (:func:`lock_experiment`),
    which arrivals take in turn: it is held only to count, choose the condition and insert
    the run, which on PostgreSQL go to the database in one round trip. Everything else is
    decided before it: whether the worker has a run already, and ``admit``'s checks, whose
    count is committed before the lock is taken. A worker arriving twice at once (double
    click, two tabs, two assignments) loses the unique-constraint race the second time; it
    then starts over and finds the run the other request created. A participant of an
    experiment this one excludes is turned away before anything is counted; a new run
    made for a test (``is_test``) is flagged so (and skips that check).
    """
    try:
        outcome = _enter_once(experiment, identity, user_agent, abandon_minutes, admit, is_test)
    except IntegrityError:
        db.session.rollback()
        outcome = _enter_once(experiment, identity, user_agent, abandon_minutes, admit, is_test)
    db.session.commit()
    if isinstance(outcome, Entered) and not outcome.resumed:
        db.session.add(outcome.run)  # after the commit, which would have expired it
    return outcome


def run_for_token(token: object) -> Run:
    """The run a signed token speaks for; TokenError if forged, expired or superseded."""
    return run_for_claim(tokens.verify(token))


def run_for_claim(claim: tokens.RunClaim) -> Run:
    """The run a verified token claims; TokenError if it is gone or superseded."""
    run = db.session.get(Run, claim.run_id)
    if run is None:
        raise tokens.TokenError("invalid_token", "The run token is not valid.")
    if run.page_key != claim.page_key:
        raise tokens.TokenError("superseded_token", SUPERSEDED)
    return run


#: Why a superseded page's token is refused: a later page of its run was served since.
SUPERSEDED = "This study is open in another window or tab: please continue there."


@cache
def _new_page_statement() -> Update:
    return (update(Run).where(Run.id == bindparam("run_id"))
            .values(page_key=bindparam("page_key"))
            .returning(Run.status, Run.consented_at, Run.record_count, Run.next_seq))


def new_page_key() -> str:
    """A fresh random page key."""
    return secrets.token_urlsafe(16)


def open_page(run: Run) -> str:
    """Give the run a fresh page key for a page about to be served, committed; return it.

    Every earlier page's token is refused from then on (:func:`run_for_claim`, the save
    guards), so two tabs never both save. The run's status and counters are read in the
    same statement: no earlier page can change them after it, so the page starts from them.
    Its own short transaction: the ORM session's objects stay loaded.
    """
    page_key = new_page_key()
    with write_transaction() as connection:
        row = connection.execute(_new_page_statement(),
                                 {"run_id": run.id, "page_key": page_key}).one()
    for name, value in zip(("status", "consented_at", "record_count", "next_seq"), row,
                           strict=True):
        set_committed_value(run, name, value)
    set_committed_value(run, "page_key", page_key)
    return page_key


def give_consent(run: Run, agreed: bool) -> None:
    """Record the worker's consent decision on an in-progress run."""
    if run.status != RunStatus.IN_PROGRESS or run.consented_at is not None:
        return
    if agreed:
        run.consented_at = utcnow()
    else:
        run.status = RunStatus.DECLINED
    run.last_seen_at = utcnow()


def has_complete_data(run: Run | None) -> bool:
    """True when the run completed and its records arrived: the rule every platform's
    approve and bonus follow (money follows verified data)."""
    return (run is not None and run.status in RunStatus.COUNTED
            and run.completed_at is not None and run.record_count > 0)
