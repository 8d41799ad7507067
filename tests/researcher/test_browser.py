"""In Chromium: log in, open the dashboard and an experiment page, download trials.csv."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from experiment_host.extensions import db
from experiment_host.models import RunStatus
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import RunningServer, serve_in_thread
from tests.conftest import build_app, dispose
from tests.researcher.support import PASSWORD, add_run

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Flask, RunningServer]]:
    app = build_app(f"sqlite:///{tmp_path / 'researcher.sqlite3'}", TESTING=False)
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        add_run(data=[{"rt": 350, "answer": "=cmd", "nested": {"ok": True}}, {"rt": 410}])
        add_run(data=[{"rt": 500}], status=RunStatus.RETURNED, condition="B")
        db.session.commit()
    server = serve_in_thread(app, "127.0.0.1", 0)
    yield app, server
    server.stop()
    dispose(app)


def test_login_dashboard_experiment_and_download(served, tmp_path):
    pytest.importorskip("playwright.sync_api")
    _, server = served
    target = tmp_path / "download.csv"
    # A thread of its own: other browser tests may keep Playwright's event loop running in
    # this one, and the sync API refuses to start inside a running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        suggested = pool.submit(_browse, server.url, target).result(timeout=120)
    assert suggested == "basic-trials.csv"
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["rt"] for row in rows] == ["350", "410", "500"]
    assert rows[0]["answer"] == "'=cmd" and rows[0]["nested.ok"] == "true"


def _browse(base_url: str, target: Path) -> str:
    """Log in, look around, download trials.csv to ``target``; return the suggested name."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(f"{base_url}/researcher/experiments/basic")
            assert "/researcher/login" in page.url  # anonymous: sent to the login page
            page.fill("input[name=username]", "ada")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/researcher/experiments/basic")  # back where it started
            assert page.locator("svg.chart").count() == 3  # completions, conditions, drop-off
            page.click("text=← Experiments")
            assert page.locator("h1").inner_text() == "Experiments"
            page.click("text=Basic test experiment")
            page.wait_for_url("**/researcher/experiments/basic")
            assert "2 matching" in page.content()
            with page.expect_download() as download_info:
                page.click("a[href$='trials.csv']")
            download_info.value.save_as(target)
            return download_info.value.suggested_filename
        finally:
            browser.close()
