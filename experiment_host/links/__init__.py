"""Study links as JATOS defines them: batches, four link types, study codes, QR codes and
switches. Entry builds a platform identity for the worker flow, which creates the run.

This face is what the layers below the links' own pages use: :func:`open_link_refusal`
(the worker flow's opt-in check of ``?participant=`` links), :func:`end_redirect` (the
link platform's done page), runs.csv's link columns and batch filter, and
:func:`release_places` (a deleted run's batch place). The pages and ``flask links`` build on
the worker flow and the dashboard, so the app registers them from above:
:func:`.web.init_app` and ``links.cli.links_cli``.
"""

from __future__ import annotations

from . import models  # noqa: F401  (registers the link tables)
from .rules import end_redirect, open_link_refusal
from .run_columns import LINK_COLUMNS, in_batches, with_link_columns
from .store import release_places

__all__ = ["LINK_COLUMNS", "end_redirect", "in_batches", "open_link_refusal",
           "release_places", "with_link_columns"]
