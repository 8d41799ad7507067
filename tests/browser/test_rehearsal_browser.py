"""The README's rehearsal, literally, in Chromium: ``make run``-style servers (``flask
simulator run`` and ``flask run`` as processes), the printed preview link, accept, the task,
submit; then the console's sync, approve and bonus buttons, and the dashboard showing the
run submitted and approved among its test runs (a simulator's runs are test runs). With
CONSOLE_SCREENSHOTS=1 it saves the console's pages to docs/screenshots/ (how the README's
pictures are made)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from experiment_host import PROJECT_ROOT
from tests.browser.worker_driver import (
    accept_hit,
    agree_to_consent,
    start_stroop,
    stroop_trials,
    wait_for_submission,
)
from tests.helpers import HANG_SECONDS
from tests.researcher.support import PASSWORD

pytestmark = pytest.mark.browser
FLASK = str(Path(sys.executable).parent / "flask")
SHOTS = PROJECT_ROOT / "docs" / "screenshots"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server for {url} exited"
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@dataclass
class MakeRun:
    host: str
    simulator: str
    previews: dict[str, str]


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    """What ``make run`` starts, on free ports and a fresh SQLite database."""
    host_port, sim_port = free_port(), free_port()
    env = {**os.environ, "FLASK_APP": "wsgi.py",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'rehearsal.sqlite3'}",
           "MTURK_SUBMIT_ORIGINS": f"https://www.mturk.com https://workersandbox.mturk.com "
                                   f"http://localhost:{sim_port}",
           "MTURK_ENDPOINT_URL": f"http://localhost:{sim_port}",
           "SIMULATOR_PORT": str(sim_port),  # as make run's SIM_PORT: its runs are test runs
           "SECRET_KEY": "rehearsal-secret", "PUBLIC_URL": f"http://127.0.0.1:{host_port}"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        env.pop(name, None)  # the local simulator needs no credentials
    run = {"cwd": PROJECT_ROOT, "env": env, "text": True}
    subprocess.run([FLASK, "db", "upgrade"], check=True, capture_output=True, **run)
    subprocess.run([FLASK, "researchers", "add", "ada", "--admin", "--password", PASSWORD],
                   check=True,
                   capture_output=True, **run)
    log = tmp_path / "simulator.log"
    with log.open("w") as out:
        simulator = subprocess.Popen(
            [FLASK, "simulator", "run", "--port", str(sim_port), "--experiment-base",
             f"http://127.0.0.1:{host_port}"], stdout=out, stderr=subprocess.STDOUT, **run)
    app = subprocess.Popen([FLASK, "run", "--host", "127.0.0.1", "--port", str(host_port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **run)
    try:
        wait_for(f"http://127.0.0.1:{host_port}/healthz", app)
        deadline = time.monotonic() + HANG_SECONDS
        while "MTurk simulator:" not in log.read_text() and time.monotonic() < deadline:
            assert simulator.poll() is None, log.read_text()
            time.sleep(0.2)
        previews = dict(re.findall(r"Posted HIT \w+ for ([\w-]+): (\S+)", log.read_text()))
        yield MakeRun(f"http://127.0.0.1:{host_port}", f"http://localhost:{sim_port}", previews)
    finally:
        for process in (app, simulator):
            process.terminate()
            process.wait(timeout=30)


def shoot(page: Page, name: str) -> None:
    if os.environ.get("CONSOLE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, host: str) -> None:
    page.goto(f"{host}/researcher/login")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{host}/researcher/")


def test_readme_rehearsal_from_make_run_to_approve_and_bonus(make_run: MakeRun, browser):
    assert set(make_run.previews) == {"stroop", "jspsych-rt"}
    assert make_run.previews["stroop"].startswith(f"{make_run.simulator}/hits/")
    worker = browser.new_context().new_page()
    worker.set_default_timeout(30_000)
    frame = accept_hit(worker, make_run.previews["stroop"], "AREHEARSAL0001")
    agree_to_consent(frame)
    start_stroop(worker)
    stroop_trials(worker, 12)
    wait_for_submission(worker)

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    host = make_run.host
    log_in(page, host)
    page.goto(f"{host}/researcher/experiments/stroop/entry")
    expect(page.get_by_test_id("entry-mturk")).to_have_value(f"{host}/exp/stroop")
    shoot(page, "entry-urls")

    page.goto(f"{host}/researcher/experiments/stroop/mturk")
    expect(page.get_by_test_id("waiting")).to_contain_text("AREHEARSAL0001")
    expect(page.get_by_test_id("waiting")).to_contain_text("complete")
    shoot(page, "mturk-review")
    page.get_by_test_id("sync").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("1 submitted")
    page.goto(f"{host}/researcher/experiments/stroop")
    expect(page.locator("#test-run-counts")).to_contain_text("submitted 1")

    page.goto(f"{host}/researcher/experiments/stroop/mturk")
    page.get_by_test_id("approve-all").click()
    expect(page.get_by_test_id("plan")).to_contain_text("1 to approve, 0 skipped.")
    shoot(page, "mturk-plan")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("1 approved now")

    page.goto(f"{host}/researcher/experiments/stroop/mturk")
    row = page.get_by_test_id("reviewed").locator("tr", has_text="AREHEARSAL0001")
    expect(row).to_contain_text("Approved")
    assignment = row.locator("code").inner_text()
    page.fill("input[name=amount]", "0.10")
    page.fill("input[name=reason]", "Thank you")
    page.click(f"button[value='bonus:{assignment}']")
    expect(page.get_by_test_id("plan")).to_contain_text("1 bonus(es) to pay: $0.10")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("1 paid now")

    page.goto(f"{host}/researcher/experiments/stroop")
    expect(page.locator("#test-run-counts")).to_contain_text("approved 1")
    expect(page.locator("#test-runs-table")).to_contain_text("AREHEARSAL0001")
    funnel = page.locator("table.funnel")  # a simulator's run is a test run: not counted
    assert funnel.locator("tr", has_text="approved").locator("td").first.inner_text() == "0"
    shoot(page, "experiment")
    page.goto(f"{host}/researcher/experiments/stroop/mturk")
    expect(page.get_by_test_id("reviewed")).to_contain_text("$0.10")
    page.get_by_test_id("reviewed").locator("a").first.click()
    expect(page.get_by_test_id("records").locator("tbody tr")).to_have_count(12)
    shoot(page, "run-detail")
