"""Fixtures for the study-link tests: links made through the store, as the CLI makes them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.links.models import LinkType
from experiment_host.links.store import batch_named, create_links
from experiment_host.models import Run


@pytest.fixture
def make_links(app: Flask) -> Callable[..., list[tuple[str, str]]]:
    """Create links of a type in a batch (of 'open' unless told); return (token, code) pairs."""

    def make(link_type: str = "personal-single", amount: int = 1, slug: str = "open",
             batch: str = "Default", **options) -> list[tuple[str, str]]:
        with app.app_context():
            made = create_links(batch_named(slug, batch, create=True), LinkType(link_type),
                                amount, **options)
            pairs = [(link.token, link.code) for link in made]
            db.session.commit()
            return pairs

    return make


@pytest.fixture
def run_count(app: Flask) -> Callable[[], int]:
    def count() -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(Run)) or 0

    return count


from tests.researcher.conftest import logged_in, researcher  # noqa: E402, F401  (shared)
