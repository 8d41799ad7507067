"""Batches and links: creating, finding, switching and listing them. The caller commits."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from ..database import insert_ignoring_duplicates
from ..extensions import db
from ..models import utcnow
from .models import ALL_TYPES, LinkBatch, LinkEntry, LinkPlace, LinkType, StudyLink

DEFAULT_BATCH = "Default"
#: No 0/O, 1/I/L, 5/S or 8/B: a code read off paper or a phone is typed right.
CODE_ALPHABET = "234679ACDEFGHJKMNPQRTUVWXYZ"
CODE_LENGTH = 10
MAX_AMOUNT = 10_000
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
BATCH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
BATCH_NAME_RULE = "A batch name is 1 to 64 letters, digits, spaces, '_', '.' or '-'."


class LinkError(ValueError):
    """A request about links that cannot be done; the message says why."""


def new_code() -> str:
    """A short study code of unambiguous characters (about 48 bits)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(typed: str) -> str:
    """A typed code as stored: upper case, without spaces or dashes."""
    return re.sub(r"[\s-]", "", typed).upper()[:32]


def batches(slug: str) -> list[LinkBatch]:
    """The experiment's batches, the Default one among them (created on first need)."""
    default_batch(slug)
    return list(db.session.scalars(
        select(LinkBatch).where(LinkBatch.experiment_slug == slug).order_by(LinkBatch.id)))


def default_batch(slug: str) -> LinkBatch:
    """The experiment's Default batch, created (and flushed) if missing."""
    return batch_named(slug, DEFAULT_BATCH, create=True)


def batch_named(slug: str, name: str, create: bool = False) -> LinkBatch:
    """The batch of that name; created when ``create`` (in the caller's transaction, so a
    rollback or a dry run leaves none), else LinkError if missing."""
    batch = db.session.scalar(select(LinkBatch).where(LinkBatch.experiment_slug == slug,
                                                      LinkBatch.name == name))
    if batch is not None:
        return batch
    if not create:
        raise LinkError(f"Experiment {slug!r} has no batch {name!r}.")
    if not BATCH_NAME.fullmatch(name):
        raise LinkError(BATCH_NAME_RULE)
    # Another request may create it at the same time: then its batch is this one.
    db.session.execute(insert_ignoring_duplicates(LinkBatch, [{
        "experiment_slug": slug, "name": name, "active": True, "allowed_types": ALL_TYPES,
        "created_at": utcnow()}], ["experiment_slug", "name"]))
    return batch_named(slug, name)


def rename_batch(batch: LinkBatch, name: str) -> None:
    """Give the batch another name, unused in its experiment (Default keeps its name)."""
    name = name.strip()
    if not BATCH_NAME.fullmatch(name):
        raise LinkError(BATCH_NAME_RULE)
    if batch.name == DEFAULT_BATCH:
        raise LinkError("The Default batch keeps its name.")
    if db.session.scalar(select(LinkBatch.id).where(
            LinkBatch.experiment_slug == batch.experiment_slug, LinkBatch.name == name)):
        raise LinkError(f"There is already a batch {name!r}.")
    batch.name = name


def create_links(batch: LinkBatch, link_type: LinkType, amount: int,
                 comments: Sequence[str | None] = (), confirm_first: bool = False
                 ) -> list[StudyLink]:
    """``amount`` personal links (``comments[i]`` on the i-th, else ``comments[0]`` on all),
    or the batch's one general link of that type (made once)."""
    if not link_type.personal:
        existing = db.session.scalar(select(StudyLink).where(
            StudyLink.batch_id == batch.id, StudyLink.link_type == link_type.value))
        if existing is not None:
            return [existing]
        amount, comments = 1, ()
    if not 1 <= amount <= MAX_AMOUNT:
        raise LinkError(f"The amount must be from 1 to {MAX_AMOUNT}, not {amount}.")
    if len(comments) > 1 and len(comments) != amount:
        raise LinkError(f"{len(comments)} comments were given for {amount} links.")
    made = []
    for i in range(amount):
        comment = comments[i] if len(comments) > 1 else (comments[0] if comments else None)
        link = StudyLink(batch_id=batch.id, token=secrets.token_urlsafe(18), code=new_code(),
                         link_type=link_type.value, comment=(comment or None) and comment[:500],
                         active=True, confirm_first=confirm_first)
        db.session.add(link)
        made.append(link)
    db.session.flush()
    return made


def find_link(token_or_code: str) -> StudyLink | None:
    """The link with that token (or URL ending in it) or study code."""
    value = token_or_code.strip().rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    if TOKEN.match(value):
        link = db.session.scalar(select(StudyLink).where(StudyLink.token == value))
        if link is not None:
            return link
    code = normalise_code(value)
    return db.session.scalar(select(StudyLink).where(StudyLink.code == code)) if code else None


def batch_of(link: StudyLink) -> LinkBatch:
    batch = db.session.get(LinkBatch, link.batch_id)
    assert batch is not None
    return batch


def switch_type(batch: LinkBatch, link_type: LinkType, on: bool) -> None:
    """Allow or refuse new runs through one link type of a batch."""
    allowed = [t.value for t in LinkType if (on if t == link_type else batch.allows(t))]
    batch.allowed_types = ",".join(allowed)


@dataclass(frozen=True)
class LinkRow:
    """A link as the dashboard, ``flask links list`` and the CSV show it."""

    link: StudyLink
    batch: str
    runs: int
    used_at: datetime | None
    run_id: int | None


STATES = ("all", "active", "off", "used", "unused")


def link_rows(slug: str, link_type: LinkType | None = None, state: str = "all",
              batch_name: str | None = None, window: tuple[int, int] | None = None
              ) -> Iterator[LinkRow]:
    """The experiment's links with their use: how many runs, the last one and when;
    ``window`` = (offset, limit) for a page of them."""
    if state not in STATES:
        raise LinkError(f"Unknown filter {state!r}; use one of: {', '.join(STATES)}.")
    uses = (select(LinkEntry.link_id, func.count().label("runs"),
                   func.max(LinkEntry.created_at).label("used_at"),
                   func.max(LinkEntry.run_id).label("run_id"))
            .group_by(LinkEntry.link_id).subquery())
    query = (select(StudyLink, LinkBatch.name, uses.c.runs, uses.c.used_at, uses.c.run_id)
             .join(LinkBatch, LinkBatch.id == StudyLink.batch_id)
             .outerjoin(uses, uses.c.link_id == StudyLink.id)
             .where(LinkBatch.experiment_slug == slug).order_by(StudyLink.id))
    if link_type is not None:
        query = query.where(StudyLink.link_type == link_type.value)
    if batch_name is not None:
        query = query.where(LinkBatch.name == batch_name)
    if state == "active":
        query = query.where(StudyLink.active.is_(True), LinkBatch.active.is_(True))
    elif state == "off":
        query = query.where((StudyLink.active.is_(False)) | (LinkBatch.active.is_(False)))
    elif state == "used":
        query = query.where(uses.c.runs.is_not(None))
    elif state == "unused":
        query = query.where(uses.c.runs.is_(None))
    if window is not None:
        query = query.offset(window[0]).limit(window[1])
    for link, batch, runs, used_at, run_id in db.session.execute(query):
        yield LinkRow(link, batch, runs or 0, used_at, run_id)


def runs_in_batch(batch: LinkBatch) -> int:
    """How many places the batch's runs hold (a run being created holds one already)."""
    return db.session.scalar(
        select(func.count()).select_from(LinkPlace).where(LinkPlace.batch_id == batch.id)) or 0


def take_place(batch: LinkBatch, session_key: str) -> bool:
    """Reserve the session's place in the batch, if it has one free, before its run is
    created: False when the batch is full. Takes the batch's row lock (a write) first, so
    simultaneous arrivals count one after another; the caller commits."""
    db.session.execute(update(LinkBatch).where(LinkBatch.id == batch.id)
                       .values(max_participants=LinkBatch.max_participants))
    if db.session.get(LinkPlace, (batch.id, session_key)) is not None:
        return True
    limit = db.session.scalar(select(LinkBatch.max_participants)
                              .where(LinkBatch.id == batch.id))
    if limit is not None and runs_in_batch(batch) >= limit:
        return False
    db.session.add(LinkPlace(batch_id=batch.id, session_key=session_key))
    db.session.flush()
    return True


def release_places(session_keys: Sequence[str]) -> None:
    """Give back the places of these sessions (no run was made, or the runs were deleted);
    the caller commits."""
    if session_keys:
        db.session.execute(delete(LinkPlace).where(LinkPlace.session_key.in_(session_keys)))
