"""What a link lets a participant do: who its runs belong to, when it refuses a new run,
and where the participant goes at the end."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import segno
from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..experiments import Experiment
from ..extensions import db
from ..models import Platform, Run
from ..platforms.base import Identity
from .models import LinkBatch, LinkEntry, LinkType, StudyLink
from .store import batch_of, runs_in_batch

#: The id a General Single link's page keeps in the browser's localStorage.
BROWSER_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: A participant id a General Single link may carry (``?participant=``, e.g. SONA's code).
PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_]{1,64})\}")
MAX_PARAMS = 20
BATCH_FULL = "Every place in this study has been taken. Thank you for your interest!"


def link_url(link: StudyLink) -> str:
    """The link's full URL under PUBLIC_URL."""
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/l/{link.token}"


def qr_svg(url: str) -> str:
    """The URL as a QR code, an SVG document."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=True)
    return out.getvalue().decode("utf-8")


def refusal(link: StudyLink, batch: LinkBatch) -> str | None:
    """Why this link may not start a new run now, or None."""
    if not link.active:
        return "This study link has been switched off by the researcher."
    if not batch.active:
        return "The researcher has closed this study to new participants."
    if not batch.allows(link.type):
        return "The researcher has switched off this kind of study link."
    if batch.max_participants is not None and runs_in_batch(batch) >= batch.max_participants:
        return BATCH_FULL
    return None


def identity_for(link: StudyLink, browser_id: str | None = None,
                 start_key: str | None = None, participant: str | None = None) -> Identity:
    """The identity a link's entry runs under: a Personal Single link has one run (its
    session key is derived from the link, so a second first use finds the first's run),
    a General Single one a run per ``participant`` id the link carries (e.g. SONA's),
    else per browser id; the Multiple types a new run each time but one per ``start_key``
    (a confirm page's Start button, so a double click is one run)."""
    if link.type is LinkType.PERSONAL_SINGLE:
        key = "L" + link.token
    elif link.type is LinkType.GENERAL_SINGLE and participant:
        key = "L" + _derived(link, "participant:" + participant)
    elif link.type is LinkType.GENERAL_SINGLE and browser_id:
        key = "L" + _derived(link, browser_id)
    elif not link.type.single and start_key:
        key = "L" + _derived(link, "start:" + start_key)
    else:
        key = "L" + secrets.token_urlsafe(18)
    return Identity(platform=Platform.LINK, worker_id=key, session_key=key)


def _derived(link: StudyLink, value: str) -> str:
    return hashlib.sha256(f"{link.token}:{value}".encode()).hexdigest()[:40]


def record_entry(slug: str, session_key: str, link: StudyLink, params: Mapping[str, str]
                 ) -> Run | None:
    """Note which link the session's run came through, with the entry's query parameters
    (once; a resumed run keeps the first's), and commit. The run, or None if none exists."""
    run = db.session.scalar(select(Run).where(
        Run.experiment_slug == slug, Run.platform == Platform.LINK,
        Run.session_key == session_key))
    if run is None or db.session.get(LinkEntry, run.id) is not None:
        return run
    kept = {k[:64]: v[:500] for k, v in list(params.items())[:MAX_PARAMS]}
    try:
        db.session.add(LinkEntry(run_id=run.id, link_id=link.id, params=json.dumps(kept)))
        db.session.commit()
    except IntegrityError:  # a concurrent first use noted it already
        db.session.rollback()
    return run


def end_redirect(run: Run) -> str | None:
    """The batch's end redirect URL with its ``{placeholders}`` filled, or None."""
    entry = db.session.get(LinkEntry, run.id)
    if entry is None:
        return None
    link = db.session.get(StudyLink, entry.link_id)
    batch = batch_of(link) if link else None
    if batch is None or not batch.end_redirect_url:
        return None
    # The entry's parameters may name the participant (SONA's code), not the run's facts.
    values: dict[str, Any] = {"participant": run.worker_id, **json.loads(entry.params or "{}"),
                              "run_id": run.id, "completion_code": run.completion_code or "",
                              "condition": run.condition or "", "code": link.code}
    url = PLACEHOLDER.sub(lambda m: quote(str(values.get(m.group(1), "")), safe=""),
                          batch.end_redirect_url)
    return url if url.startswith(("https://", "http://")) else None


def has_run(slug: str, session_key: str) -> bool:
    """Whether a link run with this session key exists (it may always be resumed)."""
    return db.session.scalar(select(Run.id).where(
        Run.experiment_slug == slug, Run.platform == Platform.LINK,
        Run.session_key == session_key)) is not None


def open_link_refusal(experiment: Experiment, identity: Identity) -> Any:
    """Refuse a new run through the free-form ``?participant=`` entry, unless the
    experiment opts in (``allow_open_link = true``): anyone can invent such ids."""
    if identity.platform != Platform.LINK or experiment.config.allow_open_link or has_run(
            experiment.slug, identity.session_key):
        return None
    page = render_template(
        "worker/message.html", title="This study needs its own link",
        message="This study is open only through the study link or study code the researcher "
                "gave you. Please open that link, or type your code on the study code page.")
    return page, 403
