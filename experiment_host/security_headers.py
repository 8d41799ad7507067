"""Security headers on every response, in one hook: worker pages may be framed only by the
platforms, every other page denies framing, and scripts load from this host only."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

from .config import MTURK_WORKER_ORIGINS

# Worker pages may be framed by MTurk's worker origins plus every origin in
# MTURK_SUBMIT_ORIGINS. No page of ours has an inline script; the experiment's own task page
# also allows inline styles, data: fonts and images, because jsPsych and its plugins use
# them.
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


class Step(NamedTuple):
    """Headers a kind of response gets: ``replace`` always, ``default`` unless the view set
    them, and ``remove`` dropped."""

    replace: tuple[tuple[str, str], ...] = ()
    default: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()


@lru_cache(maxsize=64)
def _step(kind: str, secure: bool, submit_origins: tuple[str, ...]) -> Step:
    """The headers of one kind of response: built once per kind and configuration."""
    common = (("X-Content-Type-Options", "nosniff"),
              *((("Strict-Transport-Security", "max-age=31536000"),) if secure else ()))
    if kind == "asset":
        return Step(default=common)
    if kind == "researcher":
        return Step(default=(*common, ("Content-Security-Policy", RESEARCHER_PAGE),
                             ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin")))
    # Pages and API answers inside the platform's frame carry run tokens: keep them out of
    # caches and referrers.
    policy = getattr(_worker_policies(submit_origins), kind)
    return Step(replace=(("Content-Security-Policy", policy), ("Cache-Control", "no-store")),
                default=(*common, ("Referrer-Policy", "no-referrer")),
                remove=("X-Frame-Options",))


def _kind(endpoint: str | None, blueprint: str | None, environ: dict[str, object]) -> str:
    if endpoint in ASSET_ENDPOINTS:
        return "asset"
    if blueprint == "api":
        return "api"
    if blueprint in FRAMED_BLUEPRINTS:
        return "task_page" if environ.get(TASK_PAGE_MARK) else "other_page"
    return "researcher"


COMPRESSIBLE_ASSETS = ("text/css", "text/javascript", "application/javascript")


def _set_headers(response: Response) -> Response:
    """Add this kind of response's headers. One hook, one look at what the view set: every
    answer passes here, the data API's hundreds of times a second."""
    current = request._get_current_object()  # type: ignore[attr-defined]
    kind = _kind(current.endpoint, current.blueprint, current.environ)
    if kind == "asset" and response.mimetype in COMPRESSIBLE_ASSETS and response.status_code == 200:
        # send_file streams files as they are ("direct passthrough"), which Flask-Compress
        # leaves alone; scripts and styles are small, so read them and let it compress them.
        response.direct_passthrough = False
        response.set_data(response.get_data())
    step = _step(kind, current.is_secure, tuple(current_app.config["MTURK_SUBMIT_ORIGINS"]))
    headers = response.headers
    present = {name.lower() for name, _ in headers.items()}
    for name in step.remove:
        if name.lower() in present:
            del headers[name]
    for name, value in step.replace:
        if name.lower() in present:
            headers[name] = value
        else:
            headers.add(name, value)
    for name, value in step.default:
        if name.lower() not in present:
            headers.add(name, value)
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response (before Flask-Compress, which is set up earlier:
    Flask runs the later hook first)."""
    app.after_request(_set_headers)
