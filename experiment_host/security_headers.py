"""Framing and other security headers: worker pages frame-able by platforms only."""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from .config import MTURK_WORKER_ORIGINS

#: Blueprints whose pages live inside the platform's iframe.
FRAMED_BLUEPRINTS = {"worker", "api"}


def frame_ancestors() -> str:
    """The origins allowed to frame worker pages: MTurk's, plus every allowed submit origin."""
    origins: list[str] = []
    for origin in (*MTURK_WORKER_ORIGINS, *current_app.config["MTURK_SUBMIT_ORIGINS"]):
        origin = origin.rstrip("/")
        if origin not in origins:
            origins.append(origin)
    return "frame-ancestors " + " ".join(origins)


def _set_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.blueprint in FRAMED_BLUEPRINTS:
        response.headers["Content-Security-Policy"] = frame_ancestors()
        response.headers.pop("X-Frame-Options", None)
        # Pages and API answers carry run tokens: keep them out of caches and referrers.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.endpoint not in ("worker.experiment_file", "worker.vendor_file"):
            response.headers["Cache-Control"] = "no-store"
    else:
        response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response."""
    app.after_request(_set_headers)
