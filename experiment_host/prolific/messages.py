"""Messages to a study's participants, each recorded per participant before it is sent, so
a re-run command sends only to those who did not get it yet."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from ..extensions import db
from ..models import utcnow
from .client import ProlificClient, ProlificError
from .models import ProlificMessage


def body_hash(body: str) -> str:
    return hashlib.sha256(body.strip().encode()).hexdigest()


def unsent(api_url: str, study_id: str, participant_ids: list[str], body: str) -> list[str]:
    """Participants who have not been sent this message (recorded as sent or sending)."""
    done = set(db.session.scalars(select(ProlificMessage.participant_id).where(
        ProlificMessage.api_url == api_url, ProlificMessage.study_id == study_id,
        ProlificMessage.body_hash == body_hash(body))))
    return sorted({p for p in participant_ids if p not in done})


def send(client: ProlificClient, study_id: str, participant_ids: list[str], body: str) -> None:
    """Record, then send (never retried on a lost answer: at most once each), then mark sent."""
    rows = [ProlificMessage(api_url=client.url, study_id=study_id, participant_id=p,
                            body_hash=body_hash(body)) for p in participant_ids]
    db.session.add_all(rows)
    db.session.commit()
    try:
        client.post("messages/bulk/", {"ids": participant_ids, "body": body,
                                       "study_id": study_id},
                    what=f"messaging {len(participant_ids)} participant(s)", safe=False)
    except ProlificError as error:
        if not error.maybe_applied:  # refused: nobody got it, a re-run may send it
            for row in rows:
                db.session.delete(row)
            db.session.commit()
        raise
    for row in rows:
        row.sent_at = utcnow()
    db.session.commit()
