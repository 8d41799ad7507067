"""A Prolific study in Chromium: the participant opens it from the simulator's study page,
consents, does the jsPsych example and is sent back with the study's code; then
``flask prolific approve`` and ``bonus`` pay exactly once. And the console's Prolific review
page: bulk approve and a bonus from Chromium (with CONSOLE_SCREENSHOTS=1 it saves the page
and its plan to docs/screenshots/, as the rehearsal test does for the other console pages)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from experiment_host import PROJECT_ROOT
from experiment_host.audit import audit_entries
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import RunningServer, create_simulator_app, serve_in_thread
from experiment_host.simulator.prolific_state import ProlificState
from tests.browser.test_rehearsal_browser import log_in, shoot
from tests.conftest import build_app, dispose
from tests.helpers import records, task_config
from tests.prolific.conftest import sim_call
from tests.researcher.support import PASSWORD

pytestmark = pytest.mark.browser
DESKTOP = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0 Safari/537.36")


@dataclass
class ProlificServers:
    app: Flask
    host: RunningServer
    simulator: RunningServer
    state: ProlificState

    @property
    def simulator_url(self) -> str:
        return f"http://localhost:{self.simulator.server.port}"

    def prolific(self, *args: str) -> str:
        result = self.app.test_cli_runner().invoke(args=["prolific", *args])
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ProlificServers]:
    state = ProlificState()
    simulator = serve_in_thread(create_simulator_app(prolific=state), "127.0.0.1", 0)
    sim = f"http://localhost:{simulator.server.port}"
    app = build_app(
        f"sqlite:///{tmp_path / 'browser.sqlite3'}",
        EXPERIMENTS_DIR=str(PROJECT_ROOT / "experiments"), TESTING=False,
        PROLIFIC_API_URL=f"{sim}/prolific/api/v1", PROLIFIC_API_TOKEN="rehearsal",
        PROLIFIC_COMPLETE_URL=f"{sim}/prolific/submissions/complete",
    )
    host = serve_in_thread(app, "127.0.0.1", 0)
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{host.server.port}"
    yield ProlificServers(app, host, simulator, state)
    host.stop()
    simulator.stop()
    dispose(app)


SET_BONUS = """() => {
  const config = JSON.parse(document.getElementById('experiment-host-config').textContent);
  return fetch('/api/bonus', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({token: config.token, amount: '0.15', reason: 'Fast and accurate'})})
    .then(response => response.status);
}"""


def test_study_page_to_completion_then_approve_and_bonus_pay_once(servers: ProlificServers,
                                                                   page: Page):
    created = servers.prolific("create", "jspsych-rt", "--yes")
    study_id = created.split("draft study ")[1].split()[0]
    servers.prolific("publish", study_id, "--yes")
    page.goto(f"{servers.simulator_url}/prolific/")
    page.fill("input[name=participant_id]", "5f0c1a2b3c4d5e6f7a8b9c0d")
    page.click("button[type=submit]")
    page.click("#consent-agree")
    page.wait_for_selector("[data-testid=instructions]")
    assert page.evaluate(SET_BONUS) == 200
    page.locator("body").press("Space")
    for _ in range(8):
        target = page.wait_for_selector("[data-testid=rt-stimulus]")
        target.press(target.get_attribute("data-correct-key") or "")
        target.wait_for_element_state("hidden")
    page.wait_for_selector("[data-testid=debrief]")
    page.locator("body").press("Space")
    expect(page.locator("#message")).to_contain_text("Code JSPSYCH1C recorded", timeout=20_000)
    [submission] = servers.state.submissions.values()
    assert submission.status == "AWAITING REVIEW" and submission.study_code == "JSPSYCH1C"
    assert "Approved 1" in servers.prolific("approve", study_id, "--yes")
    assert "Paid 1" in servers.prolific("bonus", study_id, "--yes")
    assert "already paid" in servers.prolific("bonus", study_id, "--yes")
    assert [(p["submission_id"], p["cents"]) for p in servers.state.payments] == [
        (submission.id, 15)]
    with servers.app.app_context():
        run = db.session.scalars(select(Run)).one()
        assert run.session_key == submission.id and run.status == RunStatus.APPROVED
        assert run.worker_id == "5f0c1a2b3c4d5e6f7a8b9c0d" and run.study_key == study_id


def arrive(servers: ProlificServers, study_id: str, participant_id: str, n_records: int = 8,
           bonus: str | None = None, complete: bool = True) -> str:
    """A participant takes the study over HTTP (the simulator's start, our task page and
    API), then comes back to the simulator with the code; their submission id."""
    status, headers, _ = sim_call(f"{servers.simulator_url}/prolific/studies/{study_id}/start",
                                  {"participant_id": participant_id})
    assert status == 303, status
    cookie = headers["Set-Cookie"].split(";")[0]
    location = urllib.parse.urlsplit(headers["Location"])
    args = dict(urllib.parse.parse_qsl(location.query))
    client = servers.app.test_client()
    page = client.get(location.path, query_string=args, follow_redirects=True,
                      headers={"User-Agent": DESKTOP})
    consent = re.search(rb'name="token" value="([^"]+)"', page.data)
    assert consent, page.data[:300]
    page = client.post(f"{location.path}/consent", data={"token": consent.group(1).decode(),
                                                          "decision": "agree"},
                       follow_redirects=True, headers={"User-Agent": DESKTOP})
    token = task_config(page.data)["token"]
    if n_records:
        assert client.post("/api/records", json={"token": token, "records": records(
            0, n_records)}).status_code == 200
    if bonus:
        assert client.post("/api/bonus", json={"token": token, "amount": bonus,
                                               "reason": "Fast and accurate"}).status_code == 200
    if complete:
        assert client.post("/api/complete", json={"token": token, "total": n_records}
                           ).status_code == 200
        status, _, body = sim_call(
            f"{servers.simulator_url}/prolific/submissions/complete?cc=JSPSYCH1C", cookie=cookie)
        assert status == 200, body
    return args["SESSION_ID"]


def test_review_page_bulk_approve_and_bonus(servers: ProlificServers, browser):
    """The console's Prolific review page in Chromium: bulk approve shows the CLI's plan and
    approves only what has its data; a bonus is paid once, even confirmed twice."""
    created = servers.prolific("create", "jspsych-rt", "--yes")
    study_id = created.split("draft study ")[1].split()[0]
    servers.prolific("publish", study_id, "--yes")
    fast = arrive(servers, study_id, "5f0000000000000000000001", bonus="0.15")
    steady = arrive(servers, study_id, "5f0000000000000000000002")
    empty = arrive(servers, study_id, "5f0000000000000000000003", n_records=0, complete=False)
    sim_call(f"{servers.simulator_url}/prolific/submissions/complete?cc=JSPSYCH1C",
             cookie="sim_prolific_pid=5f0000000000000000000003")
    with servers.app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    host = servers.app.config["PUBLIC_URL"]
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    log_in(page, host)
    page.goto(f"{host}/researcher/experiments/jspsych-rt")
    page.get_by_role("link", name="Prolific review").click()
    table = page.get_by_test_id(f"submissions-{study_id}")
    expect(table.locator(f"tr[data-submission='{fast}']")).to_contain_text("complete")
    expect(table.locator(f"tr[data-submission='{fast}']")).to_contain_text("0.15")
    expect(table.locator(f"tr[data-submission='{empty}']")).to_contain_text("incomplete")
    shoot(page, "prolific-review")

    page.get_by_test_id(f"approve-all-{study_id}").click()
    plan = page.get_by_test_id("plan")
    expect(plan).to_contain_text(f"Study {study_id}: 2 submission(s) to approve")
    expect(plan).to_contain_text(f"skip {empty}")
    assert plan.inner_text().splitlines() == [
        line for line in servers.prolific("approve", study_id, "--dry-run").splitlines()]
    shoot(page, "prolific-plan")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("outcome")).to_have_text("Approved 2.")
    statuses = {s.id: s.status for s in servers.state.submissions.values()}
    assert statuses == {fast: "APPROVED", steady: "APPROVED", empty: "AWAITING REVIEW"}

    page.goto(f"{host}/researcher/experiments/jspsych-rt/prolific")
    page.get_by_test_id(f"bonus-all-{study_id}").click()
    expect(page.get_by_test_id("plan")).to_contain_text(f"pay 0.15 on {fast}")
    confirm_url = page.url
    form = page.locator("form[action$='/prolific/do']")
    fields = {name: form.locator(f"input[name={name}]").first.get_attribute("value")
              for name in ("csrf_token", "do", "study_id")}
    fields["shown"] = form.locator("input[name=shown]").first.get_attribute("value")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("Paid 1;")
    again = page.request.post(confirm_url.replace("/plan", "/do"), form=fields)  # a second click
    assert again.status == 200 and "Paid 0" in again.text()
    assert [(p["submission_id"], p["cents"]) for p in servers.state.payments] == [(fast, 15)]
    page.goto(f"{host}/researcher/experiments/jspsych-rt/prolific")
    expect(page.get_by_test_id(f"submissions-{study_id}").locator(
        f"tr[data-submission='{fast}'] td").nth(9)).to_have_text("0.15")
    with servers.app.app_context():
        actions = sorted(e.action for e in audit_entries("jspsych-rt"))
    assert actions == ["approve", "pay"]
