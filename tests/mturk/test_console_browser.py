"""In Chromium: the review page's bulk approve of ticked rows, through plan and confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from experiment_host.extensions import db
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import RunningServer, serve_in_thread
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.researcher.support import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def served(app) -> Iterator[RunningServer]:
    app.config["TESTING"] = False
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    server = serve_in_thread(app, "127.0.0.1", 0)
    yield server
    server.stop()


def test_bulk_approve_of_ticked_rows(served, sim, created_hit, work):
    hit_id = created_hit("basic", "--assignments", "5")
    a, b, c = (work(hit_id) for _ in range(3))
    ticked = [a.assignment_id, b.assignment_id]
    # A thread of its own, with its own Playwright: the browser tests' session-wide
    # Playwright may be running its event loop in this thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(_approve_ticked, served.url, ticked, c.assignment_id, sim
                           ).result(timeout=300)
    assert seen["plan"].endswith("2 to approve, 0 skipped.")
    assert seen["before"] == "Submitted"  # the plan alone changed nothing
    assert "2 approved now" in seen["outcome"]
    assert sim.calls["ApproveAssignment"] == 2  # a double click on the confirmation sent once
    assert [sim.assignments[w.assignment_id].status for w in (a, b, c)] == [
        "Approved", "Approved", "Submitted"]
    assert c.assignment_id in seen["waiting"] and a.assignment_id in seen["reviewed"]


def _approve_ticked(base: str, ticked: list[str], other: str, sim) -> dict[str, str]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{base}/researcher/login")
            page.fill("input[name=username]", "ada")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/researcher/")
            page.goto(f"{base}/researcher/experiments/basic/mturk")
            for one in ticked:
                page.check(f"input[value='{one}']")
            page.click("button[value='approve:selected']")
            seen = {"plan": page.get_by_test_id("plan").inner_text().strip(),
                    "before": sim.assignments[ticked[0]].status}
            page.get_by_test_id("confirm").dblclick()
            seen["outcome"] = page.get_by_test_id("outcome").inner_text()
            page.click("text=Back to the review page")
            page.get_by_test_id("waiting").wait_for()
            seen["waiting"] = page.get_by_test_id("waiting").inner_text()
            seen["reviewed"] = page.get_by_test_id("reviewed").inner_text()
            return seen
        finally:
            browser.close()
