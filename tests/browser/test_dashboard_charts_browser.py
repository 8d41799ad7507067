"""The experiment page with data, in Chromium: the completions line with its target, the
condition bars against quotas and the drop-off curve on counted trials, each with titled
axes and ticks; on a phone-wide screen the runs table scrolls inside its card with each
timestamp on one line. With CONSOLE_SCREENSHOTS=1 it saves docs/screenshots/dashboard.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from experiment_host import PROJECT_ROOT
from experiment_host.extensions import db
from experiment_host.models import RunStatus, utcnow
from experiment_host.record_keys import CHECKPOINT_TYPE
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import RunningServer, serve_in_thread
from tests.conftest import build_app, dispose
from tests.researcher.support import PASSWORD, add_run

pytestmark = pytest.mark.browser
SHOTS = PROJECT_ROOT / "docs" / "screenshots"
DEMO = """title = "Stroop (demo data)"
description = "Seeded runs for the dashboard's charts."
duration_minutes = 3

[dashboard]
count_trials_where = { task = ["response"] }

[[conditions]]
name = "congruent-first"
quota = 10

[[conditions]]
name = "incongruent-first"
quota = 10
"""
EMPTY = 'title = "Nothing yet"\ndescription = "No runs."\nduration_minutes = 1\n'


def records(responses: int) -> list[dict[str, object]]:
    """A run's records: per trial a fixation and a response, a checkpoint after each."""
    data: list[dict[str, object]] = []
    for trial in range(responses):
        data += [{"task": "fixation"}, {"task": "response", "trial": trial, "rt": 400 + trial},
                 {"trial_type": CHECKPOINT_TYPE, "task": "response"}]
    return data


def experiments_dir(root: Path) -> Path:
    for slug, toml in (("demo", DEMO), ("empty", EMPTY)):
        folder = root / slug
        folder.mkdir(parents=True)
        (folder / "experiment.toml").write_text(toml)
        (folder / "task.html").write_text("<html><head></head><body></body></html>")
    return root


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Flask, RunningServer]]:
    app = build_app(f"sqlite:///{tmp_path / 'charts.sqlite3'}", TESTING=False,
                    EXPERIMENTS_DIR=str(experiments_dir(tmp_path / "experiments")))
    first = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=30)
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        for n in range(9):  # nine completions over the past day and a bit
            add_run("demo", data=records(12), start=first + timedelta(hours=3 * n),
                    condition=("congruent-first", "incongruent-first")[n % 2], minutes=4,
                    status=(RunStatus.COMPLETED, RunStatus.APPROVED)[n % 2])
        for stopped_after, status in ((3, RunStatus.RETURNED), (7, RunStatus.ABANDONED),
                                      (5, RunStatus.IN_PROGRESS)):
            add_run("demo", data=records(stopped_after), start=first + timedelta(hours=20),
                    status=status, condition="incongruent-first", minutes=2,
                    worker=f"A-VERY-LONG-WORKER-ID-THAT-NEEDS-ROOM-{stopped_after}")
        db.session.commit()
    server = serve_in_thread(app, "127.0.0.1", 0)
    yield app, server
    server.stop()
    dispose(app)


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/researcher/login")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/researcher/")


def axis_titles(page: Page, card: str) -> list[str]:
    return page.locator(f"#{card} svg.chart text.axis-title").all_text_contents()


def test_dashboard_shows_the_charts_with_axes(served, browser):
    _, server = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    log_in(page, server.url)
    page.goto(f"{server.url}/researcher/experiments/demo")

    completions = page.locator("#completions svg.chart")
    expect(completions.locator("polyline.cumulative")).to_have_count(1)
    expect(completions.locator("line.target-line")).to_have_count(1)
    expect(completions.locator("text.target-label")).to_have_text("target 20")  # 10 + 10
    assert axis_titles(page, "completions") == ["time (UTC, per hour)", "runs completed (total)"]
    assert completions.locator("text.y-tick").all_text_contents() == ["0", "5", "10", "15", "20"]
    assert len(completions.locator("text.x-tick").all_text_contents()) >= 2
    expect(page.locator("#completions .chart-summary")).to_contain_text(
        "9 runs reached completion")

    conditions = page.locator("#conditions svg.chart")
    assert conditions.locator("text.bar-label").all_text_contents() == [
        "congruent-first: 5 of 10 completed, 0 in progress",
        "incongruent-first: 4 of 10 completed, 1 in progress"]
    expect(conditions.locator("line.quota-mark")).to_have_count(2)
    assert axis_titles(page, "conditions") == ["runs", "condition"]

    drop_off = page.locator("#drop-off svg.chart")
    expect(drop_off.locator("polyline.reached")).to_have_count(1)
    assert axis_titles(page, "drop-off") == ["trial (as counted by count_trials_where)", "runs"]
    assert drop_off.locator("text.x-tick").all_text_contents()[0] == "1"
    expect(page.locator("#drop-off .chart-summary")).to_contain_text(
        "12 runs reached trial 1 and 9 reached trial 12")  # responses only, not 36 records
    for chart in page.locator("svg.chart").all():
        assert chart.locator("title").first.text_content()  # each keeps its <title>
    returned = page.locator("#runs-table tr", has_text="ROOM-3")
    expect(returned.locator(".status-returned")).to_have_text("returned")
    expect(page.locator("#status-counts")).to_contain_text("abandoned 1")
    shoot(page, "dashboard")

    page.set_viewport_size({"width": 420, "height": 900})
    card = page.locator("section", has=page.locator("#runs-table"))
    inside = card.evaluate("s => s.scrollWidth <= s.clientWidth")
    scrolls = page.locator("#runs-table").evaluate(
        "t => t.parentElement.scrollWidth > t.parentElement.clientWidth")
    assert inside and scrolls  # the table scrolls within its card, the card stays on screen
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    stamp = page.locator("#runs-table td .nowrap").first
    height = stamp.evaluate("e => e.getBoundingClientRect().height")
    line = stamp.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert height < 1.5 * line  # "2026-05-01 12:00 UTC" on one line

    page.goto(f"{server.url}/researcher/experiments/empty")
    expect(page.get_by_test_id("no-runs")).to_have_text("No runs yet.")
    expect(page.locator("#completions .chart-empty")).to_contain_text("no data yet")
    page.close()


def shoot(page: Page, name: str) -> None:
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
