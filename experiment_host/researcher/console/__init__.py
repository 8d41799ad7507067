"""The study console: the pages that run a study from the browser (entry URLs to hand out,
the MTurk review page, one run's records), beside the dashboard. Its MTurk actions call the
same plan-and-do functions as ``flask hits`` (:mod:`experiment_host.mturk.actions`); every
page finds its experiment through :func:`..views.known_experiment`, the
researcher side's one access check."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the console's blueprint (researcher pages: CSRF-protected, never framed)."""
    from .views import bp

    app.register_blueprint(bp)
