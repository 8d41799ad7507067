"""Test runs: flagged at entry, in no quota or tally (even in progress), out of exports and
the dashboard's figures unless asked for, and purged in one action."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy import select

from experiment_host.conditions import condition_counts
from experiment_host.extensions import db
from experiment_host.models import ConditionTally, Platform, Run, RunStatus, utcnow
from experiment_host.pilots import TEST_ARG
from tests.helpers import save_and_complete, task_config
from tests.researcher.support import csrf_token


def tallies(app, slug):
    with app.app_context():
        return {(t.condition, t.held, t.in_progress) for t in db.session.scalars(
            select(ConditionTally).where(ConditionTally.experiment_slug == slug))
            if t.held or t.in_progress}


def flags(app, slug):
    with app.app_context():
        return sorted(db.session.scalars(select(Run.is_test).where(Run.experiment_slug == slug)))


def test_test_runs_never_take_a_quota_place(app, client, open_task, test_url, mturk_args):
    # solo: one condition, quota 2.
    for _ in range(3):
        config = open_task(test_url("solo"))
        assert tallies(app, "solo") == set()  # not even while in progress
        save_and_complete(client, config["token"])
    assert tallies(app, "solo") == set() and flags(app, "solo") == [True] * 3
    for n in range(2):
        open_task("/exp/solo", participant=f"PREAL{n}")
    assert tallies(app, "solo") == {("only", 0, 2)}
    assert client.get("/exp/solo", query_string={"participant": "PLATE"}).status_code == 409


def test_a_quiet_test_run_does_not_lower_the_count(app, client, open_task, test_url):
    open_task(test_url("solo"))
    open_task("/exp/solo", participant="PREAL")
    with app.app_context():
        for run in db.session.scalars(select(Run)):
            run.last_seen_at = utcnow() - timedelta(minutes=30)  # both quiet
        db.session.commit()
        cutoff = utcnow() - timedelta(minutes=5)
        assert condition_counts("solo", cutoff) == {"only": 0}
        db.session.execute(select(Run).where(Run.worker_id == "PREAL")).scalar_one() \
            .last_seen_at = utcnow()
        db.session.commit()
        assert condition_counts("solo", cutoff) == {"only": 1}


def test_sandbox_and_simulator_arrivals_are_test_runs(app, make_app, mturk_args):
    del app  # it made the schema
    other = make_app(TEST_SUBMIT_ORIGINS=("https://workersandbox.mturk.com",),
                   SIMULATOR_HOST="localhost", SIMULATOR_PORT=5999)
    client = other.test_client()
    for origin in ("https://workersandbox.mturk.com", "http://localhost:5999",
                   "https://www.mturk.com"):
        answer = client.get("/exp/open", query_string=mturk_args(turkSubmitTo=origin))
        assert answer.status_code == 200
    assert flags(other, "open") == [False, True, True]
    with other.app_context():
        real = db.session.scalar(select(Run).where(Run.is_test.is_(False)))
        assert real.submit_to == "https://www.mturk.com"


def test_sandbox_and_simulator_runs_are_handed_back_and_pilots_are_not(app, make_app,
                                                                      mturk_args, test_url):
    """A rehearsal goes on to submit: the done page of a sandbox or simulator arrival posts
    to that origin, as a participant's would; a pilot's made-up assignment is only shown."""
    del app  # it made the schema
    other = make_app(TEST_SUBMIT_ORIGINS=("https://workersandbox.mturk.com",),
                     SIMULATOR_HOST="localhost", SIMULATOR_PORT=5999)
    client = other.test_client()
    for origin in ("https://workersandbox.mturk.com", "http://localhost:5999"):
        task = client.get("/exp/open", query_string=mturk_args(turkSubmitTo=origin),
                          follow_redirects=True)
        token = task_config(task.data)["token"]
        save_and_complete(client, token)
        done = client.get("/exp/open/done", query_string={"token": token})
        text = done.get_data(as_text=True)
        assert 'id="test-run-done"' not in text
        assert f'action="{origin}/mturk/externalSubmit"' in text
    pilot = test_url("open", Platform.MTURK).replace("ASSIGNMENT_ID_NOT_AVAILABLE",
                                                     "TESTASSIGN0001")
    token = task_config(client.get(pilot, follow_redirects=True).data)["token"]
    save_and_complete(client, token)
    text = client.get("/exp/open/done", query_string={"token": token}).get_data(as_text=True)
    assert 'id="test-run-done"' in text and "<form" not in text
    assert flags(other, "open") == [True, True, True]


def test_a_forged_or_foreign_marker_makes_no_test_run(app, client, test_url):
    other = test_url("basic").split(f"{TEST_ARG}=")[1]
    for marker in ("forged", other):
        answer = client.get("/exp/open", query_string={"participant": f"P{len(marker)}",
                                                       TEST_ARG: marker})
        assert answer.status_code == 200
    assert flags(app, "open") == [False, False]


def test_mturk_test_run_goes_from_preview_to_done_page(app, client, test_url):
    preview = client.get(test_url("open", Platform.MTURK))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and 'id="accept-test"' in html
    with app.app_context():
        assert db.session.scalar(select(db.func.sum(Run.id))) is None  # nothing created
    accept = html.split('id="accept-test" href="')[1].split('"')[0].replace("&amp;", "&")
    task = client.get(accept, follow_redirects=True)
    token = task.get_data(as_text=True).split('"token": "')[1].split('"')[0]
    save_and_complete(client, token)
    done = client.get("/exp/open/done", query_string={"token": token})
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="test-run-done"' in text
    assert "<form" not in text  # nothing is submitted to MTurk
    assert flags(app, "open") == [True]
    assert client.get("/exp/open", query_string={
        "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}).status_code == 200
    with app.app_context():
        previews = db.session.scalar(select(db.text("previews FROM experiments "
                                                    "WHERE slug = 'open'")))
    assert previews == 1  # the real preview counts, the test one did not


def test_exports_leave_test_runs_out_unless_asked(app, logged_in, seed):
    seed(slug="open", condition="x", data=[{"rt": 1}])
    seed(slug="open", condition="x", data=[{"rt": 2}], is_test=True)
    for kind, rows in (("runs.csv", 1), ("trials.csv", 1)):
        plain = logged_in.get(f"/researcher/export/open/{kind}").get_data(as_text=True)
        both = logged_in.get(f"/researcher/export/open/{kind}?include_tests=1")
        assert len(list(csv.reader(io.StringIO(plain)))) == 1 + rows
        assert len(list(csv.reader(io.StringIO(both.get_data(as_text=True))))) == 1 + 2 * rows
    assert logged_in.get("/researcher/export/open/runs.csv?include_tests=maybe").status_code == 400
    runner = app.test_cli_runner()
    plain = runner.invoke(args=["export", "runs", "open"])
    both = runner.invoke(args=["export", "runs", "open", "--include-tests"])
    assert plain.exit_code == 0 and both.exit_code == 0, both.output
    assert len(plain.output.splitlines()) == 2 and len(both.output.splitlines()) == 3


def test_dashboard_shows_test_runs_apart_and_purges_them(app, logged_in, seed):
    real = seed(slug="open", condition="x", worker="AREALWORKER")
    seed(slug="open", condition="x", worker="ATESTER0001", is_test=True,
         status=RunStatus.IN_PROGRESS)
    page = logged_in.get("/researcher/experiments/open").get_data(as_text=True)
    runs_table = page.split("<h2>Runs")[1].split('id="test-runs"')[0]
    tests_panel = page.split('id="test-runs"')[1]
    assert "AREALWORKER" in runs_table and "ATESTER0001" not in runs_table
    assert "ATESTER0001" in tests_panel
    assert "<th>accepted</th><td>1</td>" in page  # the funnel counts participants only
    with_tests = logged_in.get("/researcher/experiments/open?include_tests=1")
    runs_table = with_tests.get_data(as_text=True).split("<h2>Runs")[1].split('id="test-runs"')[0]
    assert "ATESTER0001" in runs_table and "(test)" in runs_table
    token = csrf_token(page)
    asked = logged_in.post("/researcher/experiments/open/purge-tests", data={"csrf_token": token})
    assert asked.status_code == 200 and 'id="purge-total">1<' in asked.get_data(as_text=True)
    assert flags(app, "open") == [False, True]  # only asked, nothing deleted yet
    confirm = csrf_token(asked.get_data(as_text=True))
    done = logged_in.post("/researcher/experiments/open/purge-tests",
                          data={"csrf_token": confirm, "confirm": "yes"})
    assert done.status_code == 303
    with app.app_context():
        assert list(db.session.scalars(select(Run.id))) == [real]
    forged = logged_in.post("/researcher/experiments/open/purge-tests",
                            data={"csrf_token": confirm, "confirm": "no"})
    assert forged.status_code == 400


def test_the_test_run_button_opens_the_worker_flow(app, logged_in, client):
    page = logged_in.get("/researcher/experiments/open").get_data(as_text=True)
    token = csrf_token(page)
    for platform in ("link", "prolific", "mturk"):
        answer = logged_in.post("/researcher/experiments/open/test-run",
                                data={"csrf_token": token, "platform": platform})
        assert answer.status_code == 303
        assert answer.headers["Location"].startswith("/exp/open?") and TEST_ARG in \
            answer.headers["Location"]
        assert client.get(answer.headers["Location"]).status_code == 200
    assert flags(app, "open") == [True, True]  # link and prolific; MTurk's is at its preview
    bad = logged_in.post("/researcher/experiments/open/test-run",
                         data={"csrf_token": token, "platform": "myspace"})
    assert bad.status_code == 400
    missing = logged_in.post("/researcher/experiments/nope/test-run",
                             data={"csrf_token": token, "platform": "link"})
    assert missing.status_code == 404


def test_cli_prints_a_test_url_and_purges(app, client, seed):
    runner = app.test_cli_runner()
    printed = runner.invoke(args=["runs", "test", "open", "--platform", "prolific"])
    assert printed.exit_code == 0, printed.output
    url = printed.output.strip()
    assert url.startswith("http://127.0.0.1:5000/exp/open?PROLIFIC_PID=TEST")
    assert client.get(url.removeprefix("http://127.0.0.1:5000")).status_code == 200
    assert runner.invoke(args=["runs", "test", "nope"]).exit_code == 1
    seed(slug="open", condition="x")
    kept = runner.invoke(args=["runs", "purge-tests", "open"], input="n\n")
    assert kept.exit_code == 1 and "1 test run(s) would be deleted" in kept.output
    assert flags(app, "open") == [False, True]
    gone = runner.invoke(args=["runs", "purge-tests", "open", "--yes"])
    assert gone.exit_code == 0 and "Deleted 1 test run(s)." in gone.output
    assert flags(app, "open") == [False]
    assert "no test runs" in runner.invoke(args=["runs", "purge-tests", "open"]).output
