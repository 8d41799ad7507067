"""Fixtures for the researcher tests: an account, a logged-in client, a token, seeded runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from experiment_host.extensions import db
from experiment_host.researcher.accounts import add_researcher, issue_token
from tests.researcher.support import PASSWORD, add_run, log_in


@pytest.fixture
def researcher(app: Flask) -> str:
    """A researcher account 'ada' with password PASSWORD."""
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    return "ada"


@pytest.fixture
def logged_in(client: FlaskClient, researcher: str) -> FlaskClient:
    """The test client with a researcher session."""
    assert log_in(client).status_code == 303
    return client


@pytest.fixture
def api_token(app: Flask, researcher: str) -> str:
    """A fresh API token of 'ada'."""
    with app.app_context():
        _, plain = issue_token(researcher)
        db.session.commit()
    return plain


@pytest.fixture
def seed(app: Flask) -> Callable[..., int]:
    """Insert a run (see add_run) and commit; returns the run id."""

    def make(**kwargs: Any) -> int:
        with app.app_context():
            run_id = add_run(**kwargs).id
            db.session.commit()
            return run_id

    return make
