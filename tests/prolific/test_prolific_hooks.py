"""Prolific hooks: ``flask prolific subscribe`` once against the simulator, and the endpoint
that applies signed submission status changes to the runs and refuses anything unsigned."""

from __future__ import annotations

import json
import re
import time

from experiment_host.extensions import db
from experiment_host.models import RunStatus
from experiment_host.prolific.hooks import signature
from experiment_host.researcher.accounts import add_researcher
from tests.conftest import run_by_id
from tests.researcher.support import PASSWORD, log_in

SECRET = "hook-secret"


def post_event(client, event, secret=SECRET, timestamp=None, signed_body=None):
    body = json.dumps(event).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.post("/prolific/hooks", data=body, content_type="application/json", headers={
        "X-Prolific-Request-Timestamp": stamp,
        "X-Prolific-Request-Signature": signature(secret, stamp, signed_body or body)})


def test_subscribe_once_and_print_the_secret(prolific, sim, app):
    result = prolific("subscribe", "--yes")
    assert result.exit_code == 0, result.output
    [hook] = sim.hooks.values()
    assert hook["is_enabled"] and hook["event_type"] == "submission.status.change"
    assert hook["target_url"] == "https://experiments.example.org/prolific/hooks"
    assert f"PROLIFIC_HOOK_SECRET={sim.hook_secret}" in result.output
    again = prolific("subscribe", "--yes")
    assert "Already subscribed" in again.output and len(sim.hooks) == 1


def test_signed_status_change_frees_the_quota_place(client, app, created_study, take):
    study_id = created_study()
    returned = take(study_id, complete=False, come_back=False)
    app.config["PROLIFIC_HOOK_SECRET"] = SECRET
    event = {"event_type": "submission.status.change", "resource_id": returned.submission_id,
             "status": "RETURNED", "participant_id": returned.participant_id}
    answer = post_event(client, event)  # Prolific's payload names the submission, not the study
    assert answer.status_code == 200 and answer.get_json()["changes"] == {"returned": 1}
    assert run_by_id(app, returned.run_id).status == RunStatus.RETURNED
    assert post_event(client, event).status_code == 200  # Prolific retries: harmless
    assert run_by_id(app, returned.run_id).status == RunStatus.RETURNED
    stranger = {**event, "resource_id": "6f0000000000000000000000"}
    assert post_event(client, stranger).get_json()["status"] == "ignored"


def test_hook_return_shows_on_the_dashboard_without_a_command(client, app, hand_made_study,
                                                              take):
    """Nothing but the hook: the runs table and the counts say "returned" at once."""
    study_id = hand_made_study()
    stays = take(study_id, complete=False, come_back=False)
    returned = take(study_id, complete=False, come_back=False)
    with app.app_context():
        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    assert log_in(client).status_code == 303
    before = client.get("/researcher/experiments/survey").get_data(as_text=True)
    assert 'class="status status-returned"' not in before
    app.config["PROLIFIC_HOOK_SECRET"] = SECRET
    event = {"resource_id": returned.submission_id, "status": "RETURNED",
             "participant_id": returned.participant_id}
    assert post_event(client, event).status_code == 200
    html = client.get("/researcher/experiments/survey").get_data(as_text=True)
    row = re.search(rf">{returned.run_id}</a>.*?</tr>", html, re.S).group(0)
    assert 'class="status status-returned"' in row and ">returned</span>" in row
    other = re.search(rf">{stays.run_id}</a>.*?</tr>", html, re.S).group(0)
    assert ">in progress</span>" in other
    counts = re.search(r'<p id="status-counts">.*?</p>', html, re.S).group(0)
    assert re.search(r">returned</span> <strong>1</strong>", counts)
    assert re.search(r">in progress</span> <strong>1</strong>", counts)


def test_unsigned_forged_stale_or_malformed_events_change_nothing(client, app, created_study,
                                                                  take):
    study_id = created_study()
    took = take(study_id, complete=False, come_back=False)
    event = {"resource_id": took.submission_id, "status": "RETURNED",
             "participant_id": took.participant_id, "study_id": study_id}
    assert post_event(client, event).status_code == 404  # no secret set: hooks are off
    app.config["PROLIFIC_HOOK_SECRET"] = SECRET
    assert post_event(client, event, secret="guessed").status_code == 401
    assert post_event(client, event, timestamp=int(time.time()) - 3600).status_code == 401
    assert post_event(client, event, signed_body=b"{}").status_code == 401
    assert client.post("/prolific/hooks", data=b"x").status_code == 401
    assert post_event(client, {"status": "RETURNED"}).status_code == 400
    assert post_event(client, ["x"]).status_code == 400
    other = {**event, "participant_id": "someone-else"}
    assert post_event(client, other).get_json()["skipped"]
    assert run_by_id(app, took.run_id).status == RunStatus.IN_PROGRESS
