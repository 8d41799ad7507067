"""Session cookies for researchers only: the worker flow is cookie-free by design (a signed
run token authenticates it; in a third-party iframe a cookie might not even arrive), so
worker pages and the data API neither read nor set one, and skip the work of opening it."""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

RESEARCHER_PREFIX = "/researcher"


class ResearcherSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions under /researcher; a null session everywhere else."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(RESEARCHER_PREFIX):
            return None  # Flask substitutes its read-only null session
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = ResearcherSessions()
