"""``POST /api/bonus``: the experiment records a bonus within its maximum."""

from __future__ import annotations

from experiment_host.extensions import db
from experiment_host.models import Run
from tests.helpers import records


def bonus_of(app, run_id):
    with app.app_context():
        run = db.session.get(Run, run_id)
        return run.bonus_cents, run.bonus_reason


def test_set_bonus_is_idempotent_and_capped(client, app, start_run):
    config = start_run("basic")
    token, run_id = config["token"], config["run"]["id"]
    ok = client.post("/api/bonus", json={"token": token, "amount": "0.25", "reason": "Fast"})
    assert ok.status_code == 200
    assert ok.get_json() == {"status": "in_progress", "bonus": "0.25", "reason": "Fast"}
    again = client.post("/api/bonus", json={"token": token, "amount": "0.25", "reason": "Fast"})
    assert again.status_code == 200 and bonus_of(app, run_id) == (25, "Fast")
    too_much = client.post("/api/bonus", json={"token": token, "amount": "1.01",
                                               "reason": "x"})
    assert too_much.status_code == 400 and too_much.get_json()["error"] == "bonus_too_large"
    assert too_much.get_json()["max_bonus"] == "1.00"
    assert bonus_of(app, run_id) == (25, "Fast")


def test_bad_bonus_input(client, start_run):
    token = start_run("basic")["token"]
    for amount in ("0.505", 0.5, "-1", "", None):
        answer = client.post("/api/bonus", json={"token": token, "amount": amount,
                                                 "reason": "r"})
        assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_amount"
    no_reason = client.post("/api/bonus", json={"token": token, "amount": "0.10"})
    assert no_reason.get_json()["error"] == "invalid_reason"
    assert client.post("/api/bonus", json={"token": "bad", "amount": "0.10",
                                           "reason": "r"}).status_code == 401


def test_bonus_after_completion_but_not_after_submission(client, app, start_run):
    config = start_run("basic")
    token = config["token"]
    client.post("/api/records", json={"token": token, "records": records(0, 2)})
    client.post("/api/complete", json={"token": token, "total": 2})
    assert client.post("/api/bonus", json={"token": token, "amount": "0.50",
                                           "reason": "r"}).status_code == 200
    with app.app_context():
        db.session.get(Run, config["run"]["id"]).status = "submitted"
        db.session.commit()
    late = client.post("/api/bonus", json={"token": token, "amount": "0.60", "reason": "r"})
    assert late.status_code == 409 and late.get_json()["error"] == "run_finished"


def test_experiment_without_bonus_allows_none(client, start_run):
    token = start_run("open")["token"]
    answer = client.post("/api/bonus", json={"token": token, "amount": "0.01", "reason": "r"})
    assert answer.status_code == 400 and answer.get_json()["max_bonus"] == "0.00"
