"""The researcher side: accounts, dashboard and streamed exports under ``/researcher``."""

from __future__ import annotations

from flask import Flask

from .. import access, audit  # noqa: F401  (and the access and audit tables)
from . import accounts  # noqa: F401  (registers the researcher tables)


def init_app(app: Flask) -> None:
    """Register the researcher blueprint (CSRF-protected, never framed) and the console's.
    Its routes are imported here: they need ``access``, which needs the accounts above."""
    from . import console, experiment_actions  # noqa: F401  (routes on the blueprint)
    from .views import bp

    app.register_blueprint(bp)
    console.init_app(app)
