"""In Chromium: a researcher makes three Personal Single links with comments on the Study
Links page; participants come by a QR code's URL and by a typed study code; a used link
starts no second run, a switched-off one is refused, and the end redirect lands on a
(fake) SONA page with the participant's code."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from flask import Flask, request
from markupsafe import escape
from playwright.sync_api import Page
from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import serve_in_thread
from tests.browser.conftest import Servers
from tests.browser.worker_driver import STROOP_KEYS
from tests.researcher.support import PASSWORD

pytestmark = pytest.mark.browser
STROOP_TRIALS = 12


@pytest.fixture
def sona() -> Iterator[str]:
    """A fake SONA credit page that shows the survey code it was given."""
    app = Flask("fake_sona")

    @app.get("/webstudy_credit.aspx")
    def credit() -> str:
        return f'<p id="credited">{escape(request.args.get("survey_code", ""))}</p>'

    server = serve_in_thread(app, "127.0.0.1", 0)
    yield f"http://localhost:{server.server.port}"
    server.stop()


def log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/researcher/experiments/stroop/links")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/researcher/experiments/stroop/links")


def do_stroop(page: Page) -> None:
    """Consent, start and answer every trial of the Stroop example."""
    page.click("#consent-agree")
    page.wait_for_selector("#start")
    page.wait_for_load_state()
    page.click("#start")
    for trial in range(STROOP_TRIALS):
        stimulus = page.wait_for_selector(f'#stimulus[data-trial="{trial}"]')
        stimulus.press(STROOP_KEYS[stimulus.get_attribute("data-ink")])


def runs_of(servers: Servers) -> list[Run]:
    with servers.app.app_context():
        return list(db.session.scalars(select(Run).order_by(Run.id)))


def test_personal_single_links_from_dashboard_to_sona(servers: Servers, page: Page, browser,
                                                      sona: str, tmp_path: Path):
    servers.app.config["PUBLIC_URL"] = servers.host_url
    with servers.app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    log_in(page, servers.host_url)
    page.fill("#batch-form input[name=name]", "Default")
    page.fill("#batch-form input[name=end_redirect_url]",
              f"{sona}/webstudy_credit.aspx?experiment_id=12&credit_token=abc"
              "&survey_code={participant}")
    page.click("#batch-form button[type=submit]")
    comments = tmp_path / "comments.csv"
    comments.write_text("Ann (group A)\nBen (group B)\nCy (group A)\n", encoding="utf-8")
    page.select_option("#new-links select[name=link_type]", "personal-single")
    page.fill("#new-links input[name=amount]", "3")
    page.set_input_files("#new-links input[name=comments]", str(comments))
    page.click("#create-links")
    page.wait_for_selector("#flash")
    rows = page.locator("tr.link-row")
    assert rows.count() == 3
    links = [{"url": rows.nth(i).locator(".link-url").input_value(),
              "code": rows.nth(i).get_attribute("data-code"),
              "comment": rows.nth(i).get_attribute("data-comment"),
              "qr": rows.nth(i).locator("a.qr").get_attribute("href")} for i in range(3)]
    assert [link["comment"] for link in links] == ["Ann (group A)", "Ben (group B)",
                                                   "Cy (group A)"]

    # The QR code of the first link encodes exactly its URL.
    svg = page.request.get(servers.host_url + links[0]["qr"]).text()
    expected = io.BytesIO()
    segno.make(links[0]["url"], error="m").save(expected, kind="svg", scale=4, border=2)
    assert svg.rstrip().endswith(expected.getvalue().decode().rstrip())

    participant = browser.new_context().new_page()
    participant.goto(links[0]["url"] + "?participant=SONA4711")
    do_stroop(participant)
    participant.wait_for_url(f"{sona}/**")
    assert participant.locator("#credited").inner_text() == "SONA4711"

    typed = browser.new_context().new_page()
    typed.goto(f"{servers.host_url}/code")
    typed.fill("#code", links[1]["code"].lower())
    typed.click("#code-submit")
    typed.wait_for_selector("#consent-agree")

    again = participant.context.new_page()
    again.goto(links[0]["url"])  # the finished run's done page, not a new run
    again.wait_for_url(f"{sona}/**")
    assert len(runs_of(servers)) == 2

    third = rows.nth(2)
    third.locator("button.link-off").click()
    page.wait_for_selector(f'tr.link-row[data-code="{links[2]["code"]}"] button.link-on')
    refused = browser.new_context().new_page()
    answer = refused.goto(links[2]["url"])
    assert answer is not None and answer.status == 403
    assert "switched off" in refused.content()

    runs = runs_of(servers)
    assert len(runs) == 2 and runs[0].status == RunStatus.COMPLETED
    page.goto(f"{servers.host_url}/researcher/experiments/stroop/links?state=used")
    assert page.locator("tr.link-row").count() == 2
    with servers.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Run)) == 2
    assert re.fullmatch(r"[0-9A-Z]{10}", links[1]["code"])
