"""Prolific's webhooks: ``submission.status.change`` events, verified by their signature
(HMAC-SHA256 of timestamp + body with the workspace's secret, base64), applied to the runs
as ``flask prolific sync`` does, so a returned participant frees a quota place at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from ..extensions import db
from ..models import Platform, Run
from . import review
from .client import ProlificClient

bp = Blueprint("prolific_hooks", __name__, url_prefix="/prolific")

EVENT = "submission.status.change"
#: Oldest signed timestamp accepted (seconds), so a captured request cannot be replayed later.
MAX_AGE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Prolific's request signature of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verified(secret: str, timestamp: str, given: str, body: bytes, now: float) -> bool:
    try:
        fresh = abs(now - float(timestamp)) <= MAX_AGE_SECONDS
    except ValueError:
        return False
    return fresh and bool(secret) and hmac.compare_digest(signature(secret, timestamp, body),
                                                          given)


def _answer(status: int, error: str, message: str) -> Any:
    return jsonify(error=error, message=message), status


@bp.post("/hooks")
def receive() -> Any:
    """Apply one signed submission status change to our run of it."""
    secret = current_app.config["PROLIFIC_HOOK_SECRET"]
    if not secret:
        return _answer(404, "not_found", "Prolific hooks are not set up on this host.")
    body = request.get_data()
    if not verified(secret, request.headers.get("X-Prolific-Request-Timestamp", ""),
                    request.headers.get("X-Prolific-Request-Signature", ""), body, time.time()):
        return _answer(401, "bad_signature", "The request signature does not verify.")
    event = request.get_json(silent=True)
    fields = ("resource_id", "status", "participant_id")  # Prolific's documented payload
    if not isinstance(event, dict) or not all(isinstance(event.get(f), str) for f in fields):
        return _answer(400, "bad_event", f"Expected an {EVENT} event with {', '.join(fields)}.")
    if event.get("event_type", EVENT) != EVENT:
        return jsonify(status="ignored"), 200
    study_id = _study_of(event["resource_id"])
    if study_id is None:
        return jsonify(status="ignored", reason="no run of this submission here"), 200
    item = {"id": event["resource_id"], "participant_id": event["participant_id"],
            "status": event["status"]}
    review.remember(str(current_app.config["PROLIFIC_API_URL"]).rstrip("/"), study_id, [item])
    result = review.sync_runs([item])
    db.session.commit()
    return jsonify(status="applied", changes=dict(result.changes), skipped=result.skipped), 200


def _study_of(submission_id: str) -> str | None:
    """The study of our run of this submission: the event names only the submission."""
    return db.session.scalar(select(Run.study_key).where(
        Run.platform == Platform.PROLIFIC, Run.session_key == submission_id))


def hook_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}/prolific/hooks"


def workspace_of(client: ProlificClient, given: str | None) -> str:
    """The workspace named, or the researcher's only one."""
    if given:
        return given
    spaces = client.pages("workspaces/", what="listing your workspaces")
    if len(spaces) != 1:
        names = ", ".join(f"{w.get('id')} ({w.get('title')})" for w in spaces) or "none"
        raise ValueError(f"Name the workspace with --workspace; yours: {names}.")
    return str(spaces[0]["id"])


def subscribe(client: ProlificClient, workspace_id: str, target_url: str
              ) -> tuple[str, str | None]:
    """Subscribe ``target_url`` to submission status changes, once; (subscription id,
    the new signing secret, or None when the subscription already existed)."""
    existing = client.pages(f"hooks/subscriptions/?workspace_id={workspace_id}",
                            what="listing your hook subscriptions")
    for hook in existing:
        if hook.get("target_url") == target_url and hook.get("event_type") == EVENT \
                and hook.get("is_enabled", True):
            return str(hook["id"]), None
    secret = client.post("hooks/secrets/", {"workspace_id": workspace_id},
                         what="creating the hook secret")["value"]
    created, headers = client.request(
        "POST", "hooks/subscriptions/",
        {"workspace_id": workspace_id, "event_type": EVENT, "target_url": target_url},
        what="subscribing to submission status changes", safe=False, with_headers=True)
    client.post(f"hooks/subscriptions/{created['id']}/",
                {"secret": headers.get("X-Hook-Secret", "")}, what="confirming the subscription")
    return str(created["id"]), str(secret)
