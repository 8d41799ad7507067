"""Study links as JATOS defines them: batches, four link types, study codes, QR codes and
switches. Entry builds a platform identity for the worker flow, which creates the run.

Public face: :func:`init_app`, ``links_cli`` (``flask links``), :func:`open_link_refusal`
(the worker flow's opt-in check of ``?participant=`` links), :func:`end_redirect` (the
link platform's done page), runs.csv's link columns and batch filter, and
:func:`release_places` (a deleted run's batch place).
"""

from __future__ import annotations

from flask import Flask

from . import models  # noqa: F401  (registers the link tables)
from .cli import links_cli
from .rules import end_redirect, open_link_refusal
from .run_columns import LINK_COLUMNS, in_batches, with_link_columns
from .store import release_places

__all__ = ["LINK_COLUMNS", "end_redirect", "in_batches", "init_app", "links_cli",
           "open_link_refusal", "release_places", "with_link_columns"]


def init_app(app: Flask) -> None:
    """Register the participant pages (token-authenticated, no CSRF) and the dashboard's."""
    from ..extensions import csrf
    from .entry import bp
    from .pages import bp as pages_bp

    app.register_blueprint(bp)
    csrf.exempt(bp)
    app.register_blueprint(pages_bp)
