"""The researcher side: accounts, dashboard and streamed exports under ``/researcher``.

Importing this package imports :mod:`.accounts`, so ``db.create_all()`` creates its tables,
and nothing else: the pure :mod:`.export` stays importable from the save path
(``experiment_host.columns``) without pulling in the views.
"""

from __future__ import annotations

from flask import Flask

from .. import access, audit  # noqa: F401  (and the access and audit tables)
from . import accounts  # noqa: F401  (registers the researcher tables)


def init_app(app: Flask) -> None:
    """Register the researcher blueprint (CSRF-protected, never framed)."""
    from . import experiment_actions  # noqa: F401  (adds its routes to the blueprint)
    from .views import bp

    app.register_blueprint(bp)
