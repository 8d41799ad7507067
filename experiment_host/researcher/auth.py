"""Who is asking: a logged-in researcher (session cookie) or a script (Bearer token), so one
decorator guards pages and downloads alike; a request with a token never gets a session."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from werkzeug.exceptions import Unauthorized

from ..extensions import db
from .accounts import Researcher, researcher_for_token, session_fingerprint

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "researcher"


class BearerRefused(Unauthorized):
    """401 that tells clients to use a Bearer token."""

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs),
                ("WWW-Authenticate", 'Bearer realm="researcher"')]


def log_in(researcher: Researcher) -> None:
    """Start a researcher session (a fresh one, so nothing from before carries over)."""
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF caches the old session's token per request
    session[SESSION_KEY] = [researcher.id, session_fingerprint(researcher)]


def log_out() -> None:
    """End the researcher session for good; the caller commits.

    The account's session generation moves on, so this cookie is refused from now on even
    if it was copied (and so is every other session of the account).
    """
    researcher = _from_session()
    if researcher is not None:
        researcher.session_generation = (researcher.session_generation or 0) + 1
    session.clear()
    g.pop("csrf_token", None)


def _from_session() -> Researcher | None:
    value = session.get(SESSION_KEY)
    if not isinstance(value, list) or len(value) != 2:
        return None
    researcher = db.session.get(Researcher, value[0], populate_existing=True)
    if researcher is None or session_fingerprint(researcher) != value[1]:
        session.clear()  # removed, or the password changed since
        return None
    return researcher


def _from_bearer(header: str) -> Researcher:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BearerRefused("Send 'Authorization: Bearer <token>'.")
    found = researcher_for_token(token.strip())
    if found is None:
        raise BearerRefused("This API token is not valid or was revoked.")
    db.session.commit()  # keep last_used_at even if the download fails later
    g.api_token = found[1]  # its limits narrow the researcher's rights (access.rules)
    return found[0]


def wants_html() -> bool:
    """True when the client names HTML in Accept (browsers do; curl's */* does not)."""
    return any(value in ("text/html", "application/xhtml+xml") and quality > 0
               for value, quality in request.accept_mimetypes)


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path on this site's researcher pages."""
    default = url_for("researcher.index")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/researcher/") \
            or "\\" in target:
        return default
    return target


def login_required(view: F) -> F:
    """Let a researcher through (by session or token); refuse everyone else."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization")
        g.pop("api_token", None)  # set again by _from_bearer for this request's token
        researcher = _from_bearer(header) if header else _from_session()
        if researcher is None:
            if request.method == "GET" and wants_html():
                return redirect(url_for("researcher.login", next=request.full_path))
            abort(401, "Log in, or send 'Authorization: Bearer <token>'.")
        g.researcher = researcher
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def client_ip() -> str:
    """The client's address (behind a proxy, configure werkzeug's ProxyFix)."""
    return request.remote_addr or "unknown"


def login_limits() -> tuple[int, int, int]:
    """(failures allowed per username and IP, per IP across names, window seconds)."""
    config = current_app.config
    return (config["LOGIN_MAX_FAILURES"], config["LOGIN_MAX_FAILURES_PER_IP"],
            config["LOGIN_FAILURE_WINDOW_SECONDS"])
