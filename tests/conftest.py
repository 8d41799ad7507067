"""Shared fixtures: the app on SQLite (and PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from experiment_host import create_app, rate_limits
from experiment_host.extensions import db
from experiment_host.models import Run

TESTS = Path(__file__).resolve().parent
TEST_EXPERIMENTS = TESTS / "experiments"
SIM_ORIGIN = "http://localhost:5999"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")

DATABASES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
#: For the tests that look at PostgreSQL itself (locks, table statistics).
needs_postgres = pytest.mark.skipif(not POSTGRES_URL,
                                    reason="needs TEST_DATABASE_URL (PostgreSQL)")


def postgres_connection(autocommit: bool = False) -> psycopg.Connection[Any]:
    """A psycopg connection of its own to the test PostgreSQL database (beside the app's)."""
    return psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=autocommit)


class RateClock:
    """The rate limits' clock in tests: it stands still unless a test moves it on, so a
    test that happens to cross a minute's boundary keeps its counts."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # the start of a minute and of an hour

    def window(self, window_seconds: int) -> int:
        return int(self.now // window_seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def rate_clock(monkeypatch: pytest.MonkeyPatch) -> RateClock:
    clock = RateClock()
    monkeypatch.setattr(rate_limits, "current_window", clock.window)
    return clock


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh SQLite file, or the PostgreSQL test database (emptied per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.sqlite3'}"
    return POSTGRES_URL


def build_app(database_url: str, fresh_schema: bool = True, **overrides: Any) -> Flask:
    """An app for tests, with a fresh schema unless told otherwise."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "EXPERIMENTS_DIR": str(TEST_EXPERIMENTS),
        "MTURK_SUBMIT_ORIGINS": ("https://www.mturk.com", "https://workersandbox.mturk.com",
                                 SIM_ORIGIN),
        "WTF_CSRF_ENABLED": True,
        # The fixtures' arrivals stand for real MTurk ones through the sandbox's host.
        "TEST_SUBMIT_ORIGINS": (),
        **overrides,
    }
    app = create_app(config)
    if fresh_schema:
        with app.app_context():
            db.drop_all()
            db.create_all()
    return app


def dispose(app: Flask) -> None:
    """Close the app's database connections."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["plain_saves"].close()


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build extra apps on the test database (e.g. with another secret); closed afterwards."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        made.append(build_app(database_url, fresh_schema=False, **overrides))
        return made[-1]

    yield make
    for extra in made:
        dispose(extra)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = build_app(database_url)
    yield app
    dispose(app)


@pytest.fixture
def mturk_args() -> Callable[..., dict[str, str]]:
    """Query parameters MTurk appends to the ExternalURL for an accepted assignment."""
    counter = iter(range(1, 1_000_000))

    def make(**overrides: str) -> dict[str, str]:
        n = next(counter)
        args = {
            "assignmentId": f"ASSIGN{n:024d}",
            "hitId": "HIT0000000000000000000000000001",
            "workerId": f"AWORKER{n:07d}",
            "turkSubmitTo": "https://workersandbox.mturk.com",
        }
        args.update(overrides)
        return args

    return make


@pytest.fixture
def start_run(client: FlaskClient, mturk_args: Callable[..., dict[str, str]]
              ) -> Callable[..., dict[str, Any]]:
    """Enter an experiment as a new MTurk worker, consent, and return the task config."""
    from tests.helpers import task_config

    def start(slug: str = "basic", consent: bool = True, **arg_overrides: str) -> dict[str, Any]:
        args = mturk_args(**arg_overrides)
        response = client.get(f"/exp/{slug}", query_string=args, follow_redirects=True)
        if consent and b'name="decision"' in response.data:
            token = response.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
            response = client.post(f"/exp/{slug}/consent",
                                   data={"token": token, "decision": "agree"},
                                   follow_redirects=True)
        assert response.status_code == 200, response.data
        return {"args": args, **task_config(response.data)}

    return start


def run_by_id(app: Flask, run_id: int) -> Run:
    with app.app_context():
        run = db.session.get(Run, run_id)
        assert run is not None
        db.session.expunge(run)
        return run
