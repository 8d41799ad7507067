"""The worker flow in Chromium: framed cross-site with third-party cookies blocked."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus, TrialRecord
from experiment_host.researcher.export import ExportOptions
from experiment_host.researcher.filters import RunFilter
from experiment_host.researcher.streaming import export_text
from tests.browser.conftest import Servers
from tests.browser.worker_driver import (
    accept_hit,
    agree_to_consent,
    experiment_frame,
    start_stroop,
    stroop_trials,
    wait_for_submission,
)

pytestmark = pytest.mark.browser


def run_and_seqs(servers: Servers, worker_id: str) -> tuple[Run, list[int]]:
    with servers.app.app_context():
        run = db.session.execute(select(Run).where(Run.worker_id == worker_id)).scalar_one()
        seqs = list(db.session.scalars(
            select(TrialRecord.seq).where(TrialRecord.run_id == run.id).order_by(TrialRecord.seq)
        ))
        db.session.expunge(run)
        return run, seqs


def trials_csv(servers: Servers, slug: str) -> list[dict[str, str]]:
    """The experiment's trials.csv, as a researcher downloads it."""
    with servers.app.app_context():
        text = "".join(export_text(db.engine, "trials.csv", slug, RunFilter(),
                                   ExportOptions(pseudonym_key=b"k")))
    return list(csv.DictReader(io.StringIO(text, newline="")))


def assert_submitted(servers: Servers, run: Run) -> None:
    submissions = servers.state.submissions
    assert [s["assignmentId"] for s in submissions] == [run.session_key]
    assert submissions[0]["completionCode"] == run.completion_code


def test_third_party_cookies_are_blocked_in_the_frame(servers: Servers, page: Page):
    frame = accept_hit(page, servers.post_hit("stroop"), "ACOOKIEPROBE01")
    probe = "document.cookie = 'probe=1; SameSite=None; Secure'; document.cookie.includes('probe')"
    assert frame.evaluate(probe) is False
    page.goto(servers.host_url + "/exp/stroop/files/stroop.css")  # same origin, first-party
    assert page.evaluate(probe) is True


def test_stroop_preview_accept_consent_complete_submit(servers: Servers, page: Page):
    frame = accept_hit(page, servers.post_hit("stroop"), "ASTROOPWORKER1")
    agree_to_consent(frame)
    start_stroop(page)
    # Third-party storage is blocked too: the outbox lives in memory (and beacons) only.
    assert experiment_frame(page).evaluate("ExperimentHost.status.durable") is False
    stroop_trials(page, 12)
    wait_for_submission(page)
    run, seqs = run_and_seqs(servers, "ASTROOPWORKER1")
    assert seqs == list(range(12))
    assert run.status == RunStatus.COMPLETED and run.record_count == 12
    assert_submitted(servers, run)
    assert servers.state.assignments[run.session_key].status == "Submitted"


def test_jspsych_example_saves_every_trial_and_submits(servers: Servers, page: Page):
    frame = accept_hit(page, servers.post_hit("jspsych-rt"), "AJSPSYCHWORKR1")
    agree_to_consent(frame)
    frame = experiment_frame(page)
    frame.wait_for_selector("[data-testid=instructions]")
    frame.locator("body").press("Space")
    for _ in range(8):
        target = frame.wait_for_selector("[data-testid=rt-stimulus]")
        key = target.get_attribute("data-correct-key")
        target.press(key)
        target.wait_for_element_state("hidden")
    frame.wait_for_selector("[data-testid=debrief]")
    frame.locator("body").press("Space")
    wait_for_submission(page)
    run, seqs = run_and_seqs(servers, "AJSPSYCHWORKR1")
    assert run.status == RunStatus.COMPLETED
    assert seqs == list(range(len(seqs))) and len(seqs) == run.record_count
    with servers.app.app_context():
        types = list(db.session.scalars(
            select(TrialRecord.data).where(TrialRecord.run_id == run.id).order_by(TrialRecord.seq)))
    trial_types = [d["trial_type"] for d in types]
    assert trial_types.count("html-keyboard-response") >= 10  # instructions, 8 trials, debrief
    assert_submitted(servers, run)
    # The properties its on_finish added are on every row of trials.csv, as in jsPsych's csv().
    rows = trials_csv(servers, "jspsych-rt")
    assert len(rows) == trial_types.count("html-keyboard-response")
    assert len({(row["accuracy"], row["mean_rt"]) for row in rows}) == 1
    assert rows[0]["accuracy"] == "1" and int(rows[0]["mean_rt"]) > 0


def test_reload_mid_task_resumes_without_loss_or_duplicates(servers: Servers, page: Page):
    frame = accept_hit(page, servers.post_hit("stroop"), "ARELOADWORKER1")
    agree_to_consent(frame)
    start_stroop(page)
    stroop_trials(page, 5)
    page.reload()
    # The task resumes after the last answer the server took before the reload served a new
    # page: a save still on its way then is refused (an earlier page), and that trial redone.
    frame = experiment_frame(page)
    frame.wait_for_selector("#start")
    resumed = frame.evaluate("ExperimentHost.nextSeq")
    assert resumed in (4, 5)
    start_stroop(page)  # the "Continue" button after a resume
    stroop_trials(page, 12 - resumed, start=resumed)
    wait_for_submission(page)
    run, seqs = run_and_seqs(servers, "ARELOADWORKER1")
    assert seqs == list(range(12)) and run.record_count == 12
    assert_submitted(servers, run)


def test_network_failure_during_task_loses_nothing(servers: Servers, page: Page):
    frame = accept_hit(page, servers.post_hit("stroop"), "ANETWORKDROP01")
    agree_to_consent(frame)
    start_stroop(page)
    stroop_trials(page, 2)
    failed: list[str] = []

    def drop(route: Route) -> None:
        failed.append(route.request.url)
        route.abort("internetdisconnected")

    page.route("**/api/**", drop)
    stroop_trials(page, 6, start=2)
    expect(experiment_frame(page).locator("#experiment-host-banner")).to_be_visible()
    page.unroute("**/api/**")
    stroop_trials(page, 4, start=8)
    wait_for_submission(page)
    assert failed, "the route never intercepted an API call"
    run, seqs = run_and_seqs(servers, "ANETWORKDROP01")
    assert seqs == list(range(12)) and run.record_count == 12
    assert_submitted(servers, run)


def test_small_screen_is_screened_out_before_consent(servers: Servers, playwright,
                                                     chromium_path: str):
    # Playwright's screen emulation does not reach a cross-site (out-of-process) frame, so
    # this test runs its own headless Chromium with a small screen (--screen-info).
    from tests.browser.conftest import CHROMIUM_ARGS

    small = playwright.chromium.launch(executable_path=chromium_path,
                                       args=[*CHROMIUM_ARGS, "--screen-info={640x480}"])
    try:
        page = small.new_page(viewport=None)
        frame = accept_hit(page, servers.post_hit("stroop"), "ASMALLSCREEN01")
        expect(frame.locator("#screen-too-small")).to_contain_text("needs at least 800")
        assert frame.locator("#consent-agree").count() == 0
    finally:
        small.close()


def test_server_restart_mid_run_loses_nothing(servers: Servers, page: Page):
    frame = accept_hit(page, servers.post_hit("stroop"), "ARESTARTWORKR1")
    agree_to_consent(frame)
    start_stroop(page)
    stroop_trials(page, 4)

    def while_down() -> None:
        stroop_trials(page, 4, start=4)  # answers queue in the page while the host is down
        expect(experiment_frame(page).locator("#experiment-host-banner")).to_be_visible()

    servers.restart_host(while_down)
    stroop_trials(page, 4, start=8)
    wait_for_submission(page)
    run, seqs = run_and_seqs(servers, "ARESTARTWORKR1")
    assert seqs == list(range(12)) and run.record_count == 12
    assert_submitted(servers, run)


def test_task_ending_without_records_is_told_why_and_submits_nothing(servers: Servers,
                                                                     page: Page):
    frame = accept_hit(page, servers.post_hit("stroop"), "ANORECORDS0001")
    agree_to_consent(frame)
    frame = experiment_frame(page)
    frame.wait_for_selector("#start")
    # A task that finishes before saving anything: the server refuses, the page says why.
    outcome = frame.evaluate("ExperimentHost.finish().then(() => 'finished', e => e.code)")
    assert outcome == "too_few_records"
    banner = frame.locator("#experiment-host-banner")
    expect(banner).to_contain_text("ended before enough of your answers were recorded")
    run, seqs = run_and_seqs(servers, "ANORECORDS0001")
    assert seqs == [] and run.status == RunStatus.IN_PROGRESS and run.completed_at is None
    assert servers.state.submissions == []
