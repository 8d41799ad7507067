"""A Prolific study in Chromium: the participant opens it from the simulator's study page,
consents, does the jsPsych example and is sent back with the study's code; then
``flask prolific approve`` and ``bonus`` pay exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from experiment_host import PROJECT_ROOT
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from experiment_host.simulator import RunningServer, create_simulator_app, serve_in_thread
from experiment_host.simulator.prolific_state import ProlificState
from tests.conftest import build_app, dispose

pytestmark = pytest.mark.browser


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
