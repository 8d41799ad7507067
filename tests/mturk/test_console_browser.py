"""In Chromium: the review page's bulk approve of ticked rows, through plan and confirmation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from experiment_host.extensions import db
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import RunningServer, serve_in_thread
from tests.browser.conftest import browser, chromium_path, playwright  # noqa: F401 (fixtures)
from tests.researcher.support import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def served(app) -> Iterator[RunningServer]:
    app.config["TESTING"] = False
    with app.app_context():
        add_researcher("ada", PASSWORD)
        db.session.commit()
    server = serve_in_thread(app, "127.0.0.1", 0)
    yield server
    server.stop()


def test_bulk_approve_of_ticked_rows(served, sim, created_hit, work, browser):  # noqa: F811
    hit_id = created_hit("basic", "--assignments", "5")
    a, b, c = (work(hit_id) for _ in range(3))
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{served.url}/researcher/login")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{served.url}/researcher/experiments/basic/mturk")
    for worked in (a, b):
        page.check(f"input[value='{worked.assignment_id}']")
    page.click("button[value='approve:selected']")
    expect(page.get_by_test_id("plan")).to_contain_text("2 to approve, 0 skipped.")
    assert sim.assignments[a.assignment_id].status == "Submitted"  # asked first
    page.get_by_test_id("confirm").dblclick()  # a double click sends once
    expect(page.get_by_test_id("outcome")).to_contain_text("2 approved now")
    assert sim.calls["ApproveAssignment"] == 2
    assert [sim.assignments[w.assignment_id].status for w in (a, b, c)] == [
        "Approved", "Approved", "Submitted"]
    page.click("text=Back to the review page")
    expect(page.get_by_test_id("waiting")).to_contain_text(c.assignment_id)
    expect(page.get_by_test_id("reviewed")).to_contain_text(a.assignment_id)
    page.close()
