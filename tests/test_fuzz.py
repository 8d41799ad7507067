"""Generated hostile requests against the data API and worker routes: never a 500, and never
a change to another run's data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import Run, TrialRecord
from tests.helpers import records

FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
seqs = st.one_of(st.integers(-5, 20), st.integers(), st.text(max_size=3), st.none(),
                 st.floats(allow_nan=False), st.booleans())
record_items = st.one_of(
    st.fixed_dictionaries({"seq": seqs, "data": json_values}),
    st.dictionaries(st.sampled_from(["seq", "data", "x"]), json_values, max_size=3),
    json_values,
)


@pytest.fixture
def victim_and_attacker(app, start_run, client) -> dict[str, Any]:
    victim, attacker = start_run(), start_run()
    client.post("/api/records", json={"token": victim["token"], "records": records(0, 3)})
    app.config["RUN_REQUESTS_PER_MINUTE"] = 10**9
    return {"victim": victim, "attacker": attacker}


def snapshot(app, run_id: int) -> tuple[Any, ...]:
    with app.app_context():
        run = db.session.get(Run, run_id)
        data = [(seq, data) for seq, data in db.session.execute(
            select(TrialRecord.seq, TrialRecord.data).where(TrialRecord.run_id == run_id)
            .order_by(TrialRecord.seq))]
        return run.status, run.record_count, run.completed_at, data


@FUZZ
@given(path=st.sampled_from(["/api/records", "/api/heartbeat", "/api/complete"]),
       token_choice=st.sampled_from(["attacker", "victim-forged", "garbage", "missing"]),
       extra=st.dictionaries(st.sampled_from(["records", "total", "seq", "data"]), json_values),
       items=st.lists(record_items, max_size=5))
def test_json_api_never_500_never_touches_other_runs(app, client, victim_and_attacker, path,
                                                     token_choice, extra, items):
    victim, attacker = victim_and_attacker["victim"], victim_and_attacker["attacker"]
    before = snapshot(app, victim["run"]["id"])
    tokens = {"attacker": attacker["token"], "victim-forged": victim["token"][:-3] + "abc",
              "garbage": "x" * 30}
    body: dict[str, Any] = {**extra}
    if token_choice in tokens:
        body["token"] = tokens[token_choice]
    if path == "/api/records" and "records" not in extra:
        body["records"] = items
    response = client.post(path, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_json()
    assert (response.is_json and "error" in response.get_json()) or response.status_code == 200
    assert snapshot(app, victim["run"]["id"]) == before


@FUZZ
@given(body=st.binary(max_size=300),
       path=st.sampled_from(["/api/records", "/api/heartbeat", "/api/complete"]),
       content_type=st.sampled_from(["application/json", "text/plain",
                                     "application/x-www-form-urlencoded", ""]))
def test_raw_bodies_never_500(app, client, victim_and_attacker, body, path, content_type):
    before = snapshot(app, victim_and_attacker["victim"]["run"]["id"])
    response = client.post(path, data=body, content_type=content_type or None)
    assert response.status_code < 500
    assert response.get_json()["error"]
    assert snapshot(app, victim_and_attacker["victim"]["run"]["id"]) == before


query_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@FUZZ
@given(slug=st.sampled_from(["basic", "open", "nope", "solo"]),
       params=st.dictionaries(
           st.sampled_from(["assignmentId", "hitId", "workerId", "turkSubmitTo", "PROLIFIC_PID",
                            "STUDY_ID", "SESSION_ID", "participant", "other"]),
           st.one_of(query_text, st.sampled_from(["ASSIGNMENT_ID_NOT_AVAILABLE",
                                                   "https://www.mturk.com", "AW1"])),
           max_size=5))
def test_entry_never_500(app, client, victim_and_attacker, slug, params):
    before = snapshot(app, victim_and_attacker["victim"]["run"]["id"])
    response = client.get(f"/exp/{slug}", query_string=params)
    assert response.status_code < 500, response.data[:300]
    assert response.status_code in (200, 303, 400, 403, 404, 409, 429)
    assert snapshot(app, victim_and_attacker["victim"]["run"]["id"]) == before


@FUZZ
@given(form=st.dictionaries(st.sampled_from(["token", "decision", "x"]), query_text, max_size=3),
       done_token=query_text, filename=query_text)
def test_consent_done_and_files_never_500(app, client, victim_and_attacker, form, done_token,
                                          filename):
    before = snapshot(app, victim_and_attacker["victim"]["run"]["id"])
    assert client.post("/exp/basic/consent", data=form).status_code < 500
    assert client.get("/exp/basic/done", query_string={"token": done_token}).status_code < 500
    with client.get(f"/exp/basic/files/{filename}") as asset:
        assert asset.status_code < 500
    assert snapshot(app, victim_and_attacker["victim"]["run"]["id"]) == before
