"""The researcher side: accounts, dashboard and streamed exports under ``/researcher``.

Importing this package imports :mod:`.accounts`, so ``db.create_all()`` creates its tables,
and nothing else: the pure :mod:`.export` stays importable from the save path
(``experiment_host.columns``) without pulling in the views.
"""

from __future__ import annotations

from flask import Flask

from . import accounts  # noqa: F401  (registers the researcher tables)


def init_app(app: Flask) -> None:
    """Register the researcher blueprint (CSRF-protected, never framed) and the console's."""
    from . import console
    from .views import bp

    app.register_blueprint(bp)
    console.init_app(app)
