"""Security headers on every response.

Worker pages may be framed only by the platforms (MTurk's worker origins plus every origin in
MTURK_SUBMIT_ORIGINS); every other page denies framing. Scripts load from this host only and
no page of ours has an inline script; the experiment's own task page also allows inline
styles, data: fonts and images, because jsPsych and its plugins use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from .config import MTURK_WORKER_ORIGINS

#: Blueprints whose pages live inside the platform's iframe.
FRAMED_BLUEPRINTS = {"worker", "api"}
ASSET_ENDPOINTS = {"worker.experiment_file", "worker.vendor_file", "static"}

WORKER_PAGE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'"
)
TASK_PAGE = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
)
RESEARCHER_PAGE = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
API_ANSWER = "default-src 'none'"


TASK_PAGE_MARK = "experiment_host.task_page"


def mark_task_page() -> None:
    """Tell the header step that this response is an experiment's own task page."""
    request.environ[TASK_PAGE_MARK] = True


class WorkerPolicies(NamedTuple):
    """The Content-Security-Policy of each kind of worker response."""

    api: str
    task_page: str
    other_page: str


def _unique(origins: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(origin.rstrip("/") for origin in origins))


@lru_cache(maxsize=16)
def _worker_policies(submit_origins: tuple[str, ...]) -> WorkerPolicies:
    """Built once per configuration: every worker request needs one of them."""
    origins = _unique(submit_origins)
    ancestors = "frame-ancestors " + " ".join(_unique((*MTURK_WORKER_ORIGINS, *origins)))
    # preview, consent, done: the done page's form posts to turkSubmitTo
    other = WORKER_PAGE + "; form-action 'self' " + " ".join(origins)
    return WorkerPolicies(f"{API_ANSWER}; {ancestors}", f"{TASK_PAGE}; {ancestors}",
                          f"{other}; {ancestors}")


def _worker_policy() -> str:
    policies = _worker_policies(tuple(current_app.config["MTURK_SUBMIT_ORIGINS"]))
    if request.blueprint == "api":
        return policies.api
    if request.environ.get(TASK_PAGE_MARK):
        return policies.task_page
    return policies.other_page


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint in ASSET_ENDPOINTS:
        return response
    if request.blueprint in FRAMED_BLUEPRINTS:
        headers["Content-Security-Policy"] = _worker_policy()
        headers.pop("X-Frame-Options", None)
        # Pages and API answers carry run tokens: keep them out of caches and referrers.
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers["Cache-Control"] = "no-store"
    else:
        headers.setdefault("Content-Security-Policy", RESEARCHER_PAGE)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
    return response


COMPRESSIBLE_ASSETS = ("text/css", "text/javascript", "application/javascript")


def _let_assets_compress(response: Response) -> Response:
    # send_file streams files as they are ("direct passthrough"), which Flask-Compress leaves
    # alone; scripts and styles are small, so read them and let it compress them.
    if (request.endpoint in ASSET_ENDPOINTS and response.mimetype in COMPRESSIBLE_ASSETS
            and response.status_code == 200):
        response.direct_passthrough = False
        response.set_data(response.get_data())
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response (after Flask-Compress, which is set up earlier)."""
    app.after_request(_set_headers)
    app.after_request(_let_assets_compress)
