"""In Chromium: a pilot run started from the dashboard goes from preview to done page as a
test run, and a view-only collaborator's dashboard shows no edit buttons and refuses edits."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask

from experiment_host.access import grant
from experiment_host.config import PROJECT_ROOT
from experiment_host.extensions import db
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import RunningServer, serve_in_thread
from tests.browser.worker_driver import STROOP_KEYS
from tests.conftest import build_app, dispose
from tests.researcher.support import PASSWORD, add_run

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STROOP_TRIALS = 12


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[Flask, RunningServer]]:
    app = build_app(f"sqlite:///{tmp_path / 'lab.sqlite3'}", TESTING=False,
                    EXPERIMENTS_DIR=str(PROJECT_ROOT / "experiments"))
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        add_researcher("carol", PASSWORD)
        grant("stroop", "carol", "view")
        add_run("stroop", condition="congruent-first", data=[{"rt": 500}])
        db.session.commit()
    server = serve_in_thread(app, "127.0.0.1", 0)
    yield app, server
    server.stop()
    dispose(app)


def in_browser(work, *args):
    """Run ``work(browser, *args)`` in a thread of its own (Playwright's sync API refuses
    to start inside another test's running event loop)."""

    def run():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                return work(browser, *args)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=180)


def log_in(page, base_url, name):
    page.goto(f"{base_url}/researcher/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/researcher/")


def pilot_from_dashboard(browser, base_url):
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, base_url, "ada")
    page.goto(f"{base_url}/researcher/experiments/stroop")
    page.select_option("#test-run-platform", "mturk")
    with context.expect_page() as opened:
        page.click("#test-run-button")
    pilot = opened.value
    pilot.wait_for_load_state()
    expect(pilot.locator("#accept-hint")).to_be_visible()  # MTurk's preview first
    pilot.click("#accept-test")
    pilot.click("#consent-agree")
    pilot.click("#start")
    for trial in range(STROOP_TRIALS):
        stimulus = pilot.wait_for_selector(f'#stimulus[data-trial="{trial}"]')
        stimulus.press(STROOP_KEYS[stimulus.get_attribute("data-ink")])
    expect(pilot.locator("#test-run-done")).to_be_visible()
    page.reload()
    panel = page.locator("#test-runs-table").inner_text()
    funnel = page.locator("table.funnel").inner_text()
    context.close()
    return panel, funnel


def test_a_pilot_run_from_the_dashboard(served):
    pytest.importorskip("playwright.sync_api")
    app, server = served
    panel, funnel = in_browser(pilot_from_dashboard, server.url)
    assert "completed" in panel and "mturk" in panel and "TEST" in panel
    assert "accepted\t1" in funnel  # the participant's run only, not the pilot
    with app.app_context():
        from experiment_host.models import Run

        runs = db.session.scalars(db.select(Run).order_by(Run.id)).all()
        assert [(run.is_test, run.record_count > 0) for run in runs] == [(False, True),
                                                                         (True, True)]


def view_only_dashboard(browser, base_url):
    page = browser.new_page()
    page.set_default_timeout(20_000)
    log_in(page, base_url, "carol")
    listing = page.locator("main, body").first.inner_text()
    page.goto(f"{base_url}/researcher/experiments/stroop")
    level = page.locator("#access-level").inner_text()
    buttons = {selector: page.locator(selector).count() for selector in (
        "#test-run-button", "#purge-tests-button", "#reload-button", ".delete-run",
        "#grant-form", "#audit-log")}
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answers = {action: page.request.post(f"{base_url}/researcher/experiments/stroop/{action}",
                                         form={"csrf_token": token, "platform": "link"}).status
               for action in ("test-run", "reload", "purge-tests", "runs/1/delete")}
    other = page.request.get(f"{base_url}/researcher/experiments/jspsych-rt").status
    download = page.request.get(f"{base_url}/researcher/export/stroop/runs.csv").status
    page.close()
    return listing, level, buttons, answers, other, download


def test_a_view_only_collaborators_dashboard(served):
    pytest.importorskip("playwright.sync_api")
    _, server = served
    listing, level, buttons, answers, other, download = in_browser(view_only_dashboard,
                                                                   server.url)
    assert "Stroop" in listing and "jspsych" not in listing.lower()
    assert level.startswith("Your access: view")
    assert buttons == dict.fromkeys(buttons, 0)
    assert answers == dict.fromkeys(answers, 403)
    assert other == 404 and download == 200
