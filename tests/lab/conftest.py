"""Fixtures for the lab-server tests: the test experiments plus one that excludes others."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from experiment_host.models import Platform
from experiment_host.pilots import test_entry_url
from tests.conftest import TEST_EXPERIMENTS, build_app, dispose
from tests.helpers import task_config
from tests.researcher.conftest import api_token, logged_in, researcher, seed  # noqa: F401

FOLLOWUP = """
title = "Follow-up"
description = "For people new to basic and open."
duration_minutes = 1
allow_open_link = true

[hit.qualifications]
exclude_experiments = ["basic", "open"]

[prolific]
completion_code = "FOLLOWUP1"
"""


@pytest.fixture
def experiments_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "experiments"
    shutil.copytree(TEST_EXPERIMENTS, folder)
    (folder / "followup").mkdir()
    (folder / "followup" / "experiment.toml").write_text(FOLLOWUP)
    shutil.copy(TEST_EXPERIMENTS / "open" / "task.html", folder / "followup" / "task.html")
    return folder


@pytest.fixture
def app(database_url: str, experiments_dir: Path) -> Iterator[Flask]:
    app = build_app(database_url, EXPERIMENTS_DIR=str(experiments_dir))
    yield app
    dispose(app)


@pytest.fixture
def test_url(app: Flask) -> Callable[..., str]:
    """A test run's entry URL (path and query) for an experiment and platform."""

    def make(slug: str, platform: Platform = Platform.LINK) -> str:
        with app.test_request_context():
            return test_entry_url(slug, platform)

    return make


@pytest.fixture
def open_task(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """Enter an experiment by a URL (consenting if asked); the task page's config."""

    def enter(url: str, **query: str) -> dict[str, Any]:
        response = client.get(url, query_string=query or None, follow_redirects=True)
        if b'name="decision"' in response.data:
            token = response.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
            slug = url.split("/exp/")[1].split("?")[0]
            response = client.post(f"/exp/{slug}/consent",
                                   data={"token": token, "decision": "agree"},
                                   follow_redirects=True)
        assert response.status_code == 200, response.data[:400]
        return task_config(response.data)

    return enter
