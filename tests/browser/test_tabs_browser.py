"""Two tabs of one run, and reloads, in Chromium: only the latest page saves.

Inside MTurk's frame (third-party, storage blocked) the server's refusal is all a page has;
a first-party page (a study link, Prolific) also shares localStorage with the run's other
pages, and its stored outbox must never carry one page's records into another's run.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Frame, Page, expect
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import RunStatus, TrialRecord
from tests.browser.conftest import Servers
from tests.browser.test_worker_flow_browser import assert_submitted, run_and_seqs
from tests.browser.worker_driver import (
    STROOP_KEYS,
    accept_hit,
    agree_to_consent,
    experiment_frame,
    start_stroop,
    stroop_trials,
    wait_for_submission,
)

pytestmark = pytest.mark.browser

SUPERSEDED = "This study is open in another window or tab: please continue there."
STORED_RECORDS = """Object.keys(localStorage)
    .filter((key) => key.startsWith('experiment-host:outbox:')).length"""


def answer(frame: Frame, trials: range) -> None:
    """Answer Stroop trials in ``frame`` correctly."""
    for trial in trials:
        stimulus = frame.wait_for_selector(f'#stimulus[data-trial="{trial}"]')
        stimulus.press(STROOP_KEYS[stimulus.get_attribute("data-ink")])


def all_sent(frame: Frame) -> None:
    """Wait until the server acknowledged every record (polled: the pages' CSP forbids the
    eval behind wait_for_function)."""
    for _ in range(300):
        if frame.evaluate("ExperimentHost.status.queued") == 0:
            return
        frame.page.wait_for_timeout(50)
    raise AssertionError("records still queued")


def assert_stopped(frame: Frame, banner_page: Page | Frame) -> None:
    """The page covers itself with why it stopped, offers nothing that cannot work, and
    refuses to save."""
    banner = banner_page.locator("#experiment-host-banner")
    expect(banner).to_contain_text(SUPERSEDED)
    expect(banner.locator("button")).to_have_count(0)
    assert "contact" not in banner.inner_text().lower()
    assert frame.evaluate("ExperimentHost.status.error.code") == "superseded_token"
    refused = "ExperimentHost.save({tab: 'superseded'}).then(() => 'saved', (e) => e.code)"
    assert frame.evaluate(refused) == "superseded_token"
    assert frame.evaluate("ExperimentHost.status.queued") == 0


def data_of(servers: Servers, run_id: int) -> list[dict]:
    with servers.app.app_context():
        return list(db.session.scalars(select(TrialRecord.data)
                                       .where(TrialRecord.run_id == run_id)
                                       .order_by(TrialRecord.seq)))


def test_two_tabs_of_one_assignment_in_the_frame(servers: Servers, page: Page):
    accept_hit(page, servers.post_hit("stroop"), "ATWOTABSWORKR1")
    agree_to_consent(experiment_frame(page))
    start_stroop(page)
    stroop_trials(page, 3)
    first = experiment_frame(page)
    all_sent(first)
    second_page = page.context.new_page()
    second_page.goto(page.url)  # the same assignment, in a second tab
    second = experiment_frame(second_page)
    second.wait_for_selector("#start")
    assert second.evaluate("ExperimentHost.nextSeq") == 3
    # The first tab's next answer is refused: it stops at once and says why.
    stroop_trials(page, 1, start=3)
    assert_stopped(first, first)
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))
    # Its later answers are not collected: the keyboard no longer reaches the task.
    stimulus = first.wait_for_selector('#stimulus[data-trial="4"]')
    stimulus.press(STROOP_KEYS[stimulus.get_attribute("data-ink")])
    assert first.evaluate("ExperimentHost.nextSeq") == 4
    start_stroop(second_page)
    stroop_trials(second_page, 9, start=3)
    wait_for_submission(second_page)
    page.close()  # nothing to send on the way out either
    assert not [url for url in sent if "/api/" in url]
    run, seqs = run_and_seqs(servers, "ATWOTABSWORKR1")
    assert seqs == list(range(12)) and run.status == RunStatus.COMPLETED
    assert all("tab" not in data for data in data_of(servers, run.id))
    assert_submitted(servers, run)


def study_link(servers: Servers, participant: str) -> str:
    return f"{servers.host_url}/exp/stroop?participant={participant}"


def open_task(page: Page, url: str) -> Frame:
    """Open a study link first-party (storage shared between its tabs), past consent."""
    page.goto(url)
    if page.locator("#consent-agree").count():
        page.click("#consent-agree")
    page.wait_for_selector("#start")
    page.wait_for_load_state()  # stroop.js (deferred) listens to #start from then on
    return page.main_frame


def test_superseded_tab_records_are_never_replayed(servers: Servers, page: Page):
    url = study_link(servers, "PTWOTABSLINK01")
    first = open_task(page, url)
    assert first.evaluate("ExperimentHost.status.durable") is True
    first.click("#start")
    answer(first, range(2))
    all_sent(first)
    page.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    second_page = page.context.new_page()
    second = open_task(second_page, url)
    # The first tab hears of the second through storage: it stops although it is offline.
    assert_stopped(first, page)
    stimulus = first.wait_for_selector('#stimulus[data-trial="2"]')
    stimulus.press(STROOP_KEYS[stimulus.get_attribute("data-ink")])
    assert first.evaluate("ExperimentHost.nextSeq") == 2
    assert first.evaluate(STORED_RECORDS) == 0
    page.close()  # closed idle, without sending
    # A reload of the second tab resends nothing of the first: the task continues at 2.
    second_page.reload()
    second = open_task(second_page, url)
    assert second.evaluate("ExperimentHost.nextSeq") == 2
    second.click("#start")
    answer(second, range(2, 12))
    expect(second_page.locator("#completion-code")).to_be_visible(timeout=20_000)
    # Opening the finished run again (a reload after the other tab finished) replays nothing.
    third_page = second_page.context.new_page()
    third_page.goto(url)
    expect(third_page.locator("#completion-code")).to_be_visible()
    run, seqs = run_and_seqs(servers, "PTWOTABSLINK01")
    assert seqs == list(range(12)) and run.status == RunStatus.COMPLETED
    assert [data["trial"] for data in data_of(servers, run.id)] == list(range(12))
    assert all("tab" not in data for data in data_of(servers, run.id))


def test_reload_resends_what_the_page_before_could_not_send(servers: Servers, page: Page):
    url = study_link(servers, "PRELOADLINK001")
    first = open_task(page, url)
    first.click("#start")
    answer(first, range(2))
    all_sent(first)
    page.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    answer(first, range(2, 5))
    assert first.evaluate(STORED_RECORDS) == 3
    page.unroute("**/api/**")
    page.reload()
    again = open_task(page, url)
    assert again.evaluate("ExperimentHost.nextSeq") == 5
    again.click("#start")
    answer(again, range(5, 12))
    expect(page.locator("#completion-code")).to_be_visible(timeout=20_000)
    run, seqs = run_and_seqs(servers, "PRELOADLINK001")
    assert seqs == list(range(12)) and run.record_count == 12


def test_a_superseded_jspsych_page_stops(servers: Servers, page: Page):
    url = f"{servers.host_url}/exp/jspsych-rt?participant=PJSPSYCHTABS01"
    page.goto(url)
    page.click("#consent-agree")
    first = page.main_frame
    first.wait_for_selector("[data-testid=instructions]")
    page.locator("body").press("Space")
    target = first.wait_for_selector("[data-testid=rt-stimulus]")
    all_sent(first)
    saved = first.evaluate("ExperimentHost.nextSeq")
    trials = first.evaluate("jsPsych.data.get().count()")
    second_page = page.context.new_page()
    second_page.goto(url)  # resumes after the instructions
    second_page.wait_for_selector("[data-testid=rt-stimulus]")
    assert_stopped(first, page)
    # jsPsych hears no key and runs no timer any more: the trial on screen stays there.
    target.press(target.get_attribute("data-correct-key"))
    assert first.evaluate("ExperimentHost.nextSeq") == saved
    assert first.locator("[data-testid=rt-stimulus]").count() == 1
    assert first.evaluate("jsPsych.data.get().count()") == trials
