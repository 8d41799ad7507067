"""The simulator's Prolific workspaces and webhook subscriptions (secret, subscribe, confirm
with the X-Hook-Secret), so ``flask prolific subscribe`` is tested end to end."""

from __future__ import annotations

import secrets
from typing import Any

from flask import jsonify, request

from .prolific_api import ApiError, body_of, bp, invalid, state
from .prolific_state import new_id

HOOK_EVENTS = ("submission.status.change", "study.status.change")


@bp.get("/api/v1/workspaces/")
def workspaces() -> Any:
    return jsonify(results=[{"id": state().workspace_id, "title": "My workspace"}],
                   _links={"next": {"href": None}})


def _workspace(body: dict[str, Any]) -> None:
    if body["workspace_id"] != state().workspace_id:
        raise ApiError(404, "Not found", f"Workspace {body['workspace_id']} not found.")


@bp.post("/api/v1/hooks/secrets/")
def hook_secret() -> Any:
    """Create or replace the workspace's signing secret."""
    body = body_of({"workspace_id": str})
    with state().lock:
        _workspace(body)
        state().hook_secret = secrets.token_urlsafe(32)
        return jsonify(id=new_id(), value=state().hook_secret,
                       workspace_id=body["workspace_id"]), 201


@bp.get("/api/v1/hooks/subscriptions/")
def hook_subscriptions() -> Any:
    with state().lock:
        results = [{k: v for k, v in h.items() if k != "confirm"} for h in state().hooks.values()
                   if h["workspace_id"] == request.args.get("workspace_id")]
    return jsonify(results=results, _links={"next": {"href": None}})


@bp.post("/api/v1/hooks/subscriptions/")
def subscribe() -> Any:
    body = body_of({"workspace_id": str, "event_type": str, "target_url": str})
    with state().lock:
        _workspace(body)
        if body["event_type"] not in HOOK_EVENTS:
            raise invalid({"event_type": ["Not a valid choice."]})
        hook = {"id": new_id(), "workspace_id": body["workspace_id"], "is_enabled": False,
                "event_type": body["event_type"], "target_url": body["target_url"],
                "confirm": secrets.token_hex(16)}
        state().hooks[hook["id"]] = hook
    response = jsonify({k: v for k, v in hook.items() if k != "confirm"})
    response.status_code = 201
    response.headers["X-Hook-Secret"] = hook["confirm"]
    return response


@bp.post("/api/v1/hooks/subscriptions/<hook_id>/")
def confirm_subscription(hook_id: str) -> Any:
    body = body_of({"secret": str})
    with state().lock:
        hook = state().hooks.get(hook_id)
        if hook is None or not secrets.compare_digest(hook["confirm"], body["secret"]):
            raise ApiError(404, "Not found", f"Subscription {hook_id} not found.")
        hook["is_enabled"] = True
        return jsonify({k: v for k, v in hook.items() if k != "confirm"})
