"""A Prolific participant whose task ends the run with an outcome is sent back to Prolific
with that outcome's completion code (issue 24), in Chromium, first-party as on Prolific."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, Route
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from tests.browser.conftest import Servers
from tests.browser.worker_driver import STROOP_KEYS

pytestmark = pytest.mark.browser

PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete"
WRONG_RT_KEY = {"f": "j", "j": "f"}


def catch_prolific(page: Page) -> list[str]:
    """Answer the redirect to Prolific here, and collect the URLs it was asked for."""
    arrived: list[str] = []

    def fulfil(route: Route) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p id='prolific'>back</p>")

    page.route(PROLIFIC_COMPLETE + "*", fulfil)
    return arrived


def open_as_prolific_participant(page: Page, servers: Servers, slug: str, pid: str) -> None:
    args = {"PROLIFIC_PID": pid, "STUDY_ID": "STUDY0000001", "SESSION_ID": f"SESSION{pid}"}
    page.goto(f"{servers.host_url}/exp/{slug}?{urlencode(args)}")
    page.click("#consent-agree")
    page.wait_for_load_state()


def the_run(servers: Servers, pid: str) -> Run:
    with servers.app.app_context():
        run = db.session.execute(select(Run).where(Run.worker_id == pid)).scalar_one()
        db.session.expunge(run)
        return run


def test_jspsych_task_returns_its_outcome_and_prolific_gets_that_code(servers: Servers,
                                                                      page: Page):
    arrived = catch_prolific(page)
    open_as_prolific_participant(page, servers, "jspsych-rt", "5f00000000000000000000a1")
    page.wait_for_selector("[data-testid=instructions]")
    page.locator("body").press("Space")
    for _ in range(8):  # every circle gets the wrong key: below half right
        target = page.wait_for_selector("[data-testid=rt-stimulus]")
        target.press(WRONG_RT_KEY[target.get_attribute("data-correct-key") or "f"])
        target.wait_for_element_state("hidden")
    page.wait_for_selector("[data-testid=debrief]")
    page.locator("body").press("Space")
    page.wait_for_selector("#prolific", timeout=20_000)
    assert arrived == [f"{PROLIFIC_COMPLETE}?cc=JSPSYCH1F"]
    run = the_run(servers, "5f00000000000000000000a1")
    assert (run.status, run.outcome, run.completion_code) == (
        RunStatus.COMPLETED, "failed_attention", "JSPSYCH1F")


def test_plain_task_calls_finish_with_its_outcome_once(servers: Servers, page: Page):
    arrived = catch_prolific(page)
    open_as_prolific_participant(page, servers, "stroop", "5f00000000000000000000b2")
    page.click("#start")
    for trial in range(12):  # every word answered with a wrong colour
        stimulus = page.wait_for_selector(f'#stimulus[data-trial="{trial}"]')
        ink = stimulus.get_attribute("data-ink") or "red"
        wrong = next(key for colour, key in STROOP_KEYS.items() if colour != ink)
        stimulus.press(wrong)
    page.wait_for_selector("#prolific", timeout=20_000)
    assert arrived == [f"{PROLIFIC_COMPLETE}?cc=STROOP1F"]
    run = the_run(servers, "5f00000000000000000000b2")
    assert (run.outcome, run.completion_code, run.record_count) == (
        "failed_attention", "STROOP1F", 12)


def test_a_second_finish_with_another_outcome_changes_nothing(servers: Servers, page: Page):
    """Two finishes in a row (a double click): the first outcome is the one kept."""
    arrived = catch_prolific(page)
    open_as_prolific_participant(page, servers, "stroop", "5f00000000000000000000c3")
    page.wait_for_selector("#start")
    page.evaluate("""() => {
        ExperimentHost.save({trial: 0, correct: true});
        ExperimentHost.finish({outcome: 'failed_attention'});
        ExperimentHost.finish({outcome: 'completed'});
    }""")
    page.wait_for_selector("#prolific", timeout=20_000)
    assert arrived == [f"{PROLIFIC_COMPLETE}?cc=STROOP1F"]
    run = the_run(servers, "5f00000000000000000000c3")
    assert (run.outcome, run.completion_code) == ("failed_attention", "STROOP1F")
