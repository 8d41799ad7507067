"""The links' pages: the participant's entry (``/l/<token>``, ``/code``) and the dashboard's
Study Links pages, registered by the app factory (they build on the worker flow and the
researcher side, which use the package's face below them)."""

from __future__ import annotations

from flask import Flask

from ..extensions import csrf
from .entry import bp
from .pages import bp as pages_bp


def init_app(app: Flask) -> None:
    """Register the participant pages (token-authenticated, no CSRF) and the dashboard's."""
    app.register_blueprint(bp)
    csrf.exempt(bp)
    app.register_blueprint(pages_bp)
