"""The researcher side: accounts, dashboard and streamed exports under ``/researcher``."""

from __future__ import annotations

from flask import Flask

from .views import bp


def init_app(app: Flask) -> None:
    """Register the researcher blueprint (CSRF-protected, never framed)."""
    app.register_blueprint(bp)
