"""The researcher side: accounts, dashboard and streamed exports under ``/researcher``.

Importing this package imports :mod:`.accounts`, so ``db.create_all()`` creates its tables,
and nothing else: the pure :mod:`.export` stays importable from the save path
(``experiment_host.columns``) without pulling in the views.
"""

from __future__ import annotations

from flask import Flask

from . import accounts  # noqa: F401  (registers the researcher tables)

TRUE_WORDS = {"1", "true", "yes", "on"}


def _cookie_secure(app: Flask) -> None:
    # SESSION_COOKIE_SECURE None means "when PUBLIC_URL is https"; the environment gives text.
    value = app.config.get("SESSION_COOKIE_SECURE")
    if value is None:
        value = str(app.config["PUBLIC_URL"]).lower().startswith("https://")
    elif isinstance(value, str):
        value = value.strip().lower() in TRUE_WORDS
    app.config["SESSION_COOKIE_SECURE"] = bool(value)


def init_app(app: Flask) -> None:
    """Register the researcher blueprint (CSRF-protected, never framed)."""
    from .views import bp

    _cookie_secure(app)
    app.register_blueprint(bp)
