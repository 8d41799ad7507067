"""Generated hostile requests against the data API, the worker routes and the researcher
pages and exports, on every database: never a 500, and never a change to (or a view of)
another run's data. Every query parameter and body field those routes read is generated."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import Run, TrialRecord
from experiment_host.researcher.accounts import add_researcher, issue_token
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
        return (run.status, run.record_count, run.completed_at, run.bonus_cents,
                run.bonus_reason, data)


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


#: The run tokens a hostile client may send: mostly its own (the other parameters are read
#: only then), a forged one, garbage, none.
TOKEN_CHOICES = st.sampled_from(["attacker"] * 4 + ["victim-forged", "garbage", "missing"])


def token_for(choice: str, victim_and_attacker: dict[str, Any]) -> str | None:
    token = victim_and_attacker["attacker"]["token"]
    return {"attacker": token, "victim-forged": victim_and_attacker["victim"]["token"][:-3]
            + "abc", "garbage": "x" * 30}.get(choice)


#: Text with what databases and parsers choke on: NUL, control characters, lone surrogates.
hostile_text = st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"]),
                                          st.sampled_from("\x00\x07\x1b")), max_size=30)
#: Whole numbers as text: small, at the edges of 32 and 64 bits, far beyond any database's
#: integers (either sign), and text that only looks like a number.
number_text = st.one_of(
    st.integers(-5, 5).map(str),
    st.sampled_from([2**31 - 1, 2**31, -2**31 - 1, 2**63 - 1, 2**63, -2**63 - 1]).map(str),
    st.integers(2**63, 2**300).map(str), st.integers(-2**300, -2**63).map(str),
    st.integers().map(str), query_text,
    st.sampled_from(["²", "٣", "1_000", " 7 ", "1e3", "0x10", ""]))
#: Moments at either end of the calendar, with any zone offset, and other text.
moment_text = st.one_of(
    st.builds(lambda moment, sign, hours, minutes: f"{moment.isoformat()}{sign}{hours:02d}:"
              f"{minutes:02d}", st.one_of(st.sampled_from([datetime.min, datetime.max]),
                                          st.sampled_from([datetime.min, datetime.max]),
                                          st.datetimes()),
              st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)),
    st.dates().map(str), st.datetimes().map(str), query_text)
SMALLER = settings(FUZZ, max_examples=150)


@SMALLER
@example(token_choice="attacker", amount="0.10", reason="a\x00b", drop=(), extra={})
@example(token_choice="attacker", amount="0.10", reason="\ud800", drop=(), extra={})
@given(token_choice=TOKEN_CHOICES,
       amount=st.one_of(st.sampled_from(["0.10", "1", "0"]), st.sampled_from(["0.5", "1.00"]),
                        json_values, st.from_regex(r"[0-9]{1,30}(\.[0-9]{0,3})?",
                                                   fullmatch=True)),
       reason=st.one_of(hostile_text, hostile_text, json_values),
       drop=st.sampled_from([(), (), (), ("amount",), ("reason",)]),
       extra=st.dictionaries(st.text(max_size=8), json_values, max_size=2))
def test_bonus_never_500_never_touches_other_runs(app, client, victim_and_attacker,
                                                   token_choice, amount, reason, drop, extra):
    victim = victim_and_attacker["victim"]
    before = snapshot(app, victim["run"]["id"])
    body = {**extra, "amount": amount, "reason": reason}
    for name in drop:
        del body[name]
    token = token_for(token_choice, victim_and_attacker)
    if token is not None:
        body["token"] = token
    response = client.post("/api/bonus", data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_json()
    assert response.status_code == 200 or response.get_json()["error"]
    assert snapshot(app, victim["run"]["id"]) == before


@SMALLER
@example(token_choice="attacker", params={"after": "9" * 30, "limit": "-" + "9" * 30},
         repeat=False)
@given(token_choice=TOKEN_CHOICES,
       params=st.fixed_dictionaries({}, optional={"after": number_text, "limit": number_text,
                                                  "other": number_text}),
       repeat=st.booleans())
def test_reading_records_never_500_never_shows_other_runs(app, client, victim_and_attacker,
                                                          token_choice, params, repeat):
    query: list[tuple[str, str]] = list(params.items()) * (2 if repeat else 1)
    token = token_for(token_choice, victim_and_attacker)
    if token is not None:
        query.append(("token", token))
    response = client.get("/api/records", query_string=query)
    assert response.status_code < 500, response.get_json()
    if response.status_code == 200:
        assert response.get_json()["records"] == []  # the attacker's run has none
    else:
        assert response.get_json()["error"]


@pytest.fixture
def researcher_token(app, victim_and_attacker) -> str:
    """A researcher's API token (the runs above hold records to export)."""
    app.config["LOGIN_MAX_FAILURES"] = app.config["LOGIN_MAX_FAILURES_PER_IP"] = 10**9
    with app.app_context():
        add_researcher("fuzz", "a long enough password", admin=True)
        _, plain = issue_token("fuzz")
        db.session.commit()
    return plain


#: Each researcher page and export parameter: values it takes, and hostile values for it.
RESEARCHER_PARAMETERS = {
    "status": (["completed", "in_progress,approved"], query_text),
    "condition": (["A", "B,A"], query_text),
    "platform": (["mturk", "link,prolific"], query_text),
    "since": (["2026-05-01", "2026-05-01T12:00:00+02:00"], moment_text),
    "page": (["1", "2"], number_text),
    "checkpoints": (["1", "0"], query_text),
    "escape_formulas": (["true", "no"], query_text),
    "worker_ids": (["raw", "pseudonym"], query_text),
    "other": (["x"], query_text),
}


@st.composite
def researcher_params(draw: st.DrawFn) -> dict[str, str]:
    """Some parameters with values they take, and one or two with hostile values (all of
    them hostile at once would mostly stop at the first one the view reads)."""
    params = draw(st.fixed_dictionaries({}, optional={
        name: st.sampled_from(values) for name, (values, _) in RESEARCHER_PARAMETERS.items()}))
    for name in draw(st.sets(st.sampled_from(sorted(RESEARCHER_PARAMETERS)), min_size=1,
                             max_size=2)):
        params[name] = draw(RESEARCHER_PARAMETERS[name][1])
    return params


@settings(FUZZ, max_examples=200)
@example(slug="basic", params={"since": "0001-01-01T00:00:00+23:59"}, kind="trials.csv",
         html=False)
@example(slug="basic", params={"page": "²"}, kind="runs.csv", html=True)
@given(slug=st.sampled_from(["basic", "basic", "open", "nope"]), params=researcher_params(),
       kind=st.sampled_from(["runs.csv", "trials.csv", "trials.jsonl", "x.csv"]),
       html=st.booleans())
def test_researcher_pages_and_exports_never_500(app, client, researcher_token, slug, params,
                                                kind, html):
    headers = {"Authorization": f"Bearer {researcher_token}"}
    if html:
        headers["Accept"] = "text/html"
    for path in (f"/researcher/experiments/{slug}", f"/researcher/export/{slug}/{kind}",
                 "/researcher/"):
        response = client.get(path, query_string=params, headers=headers)
        assert response.status_code in (200, 400, 404), (path, response.data[:300])
        response.get_data()  # a download fails while it streams, if at all


@settings(FUZZ, max_examples=50)  # each login checks a password hash: slow on purpose
@example(next_target="", form={"username": "\x00", "password": "0"})
@given(next_target=st.one_of(query_text, st.sampled_from(["//evil.example/", "/researcher/x",
                                                          "https://e.example/researcher/"])),
       form=st.dictionaries(st.sampled_from(["username", "password", "other"]), hostile_text,
                            max_size=3))
def test_login_never_500(app, client, researcher_token, next_target, form):
    page = client.get("/researcher/login", query_string={"next": next_target})
    assert page.status_code == 200
    csrf = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    # Encoded as a browser would send lone surrogates: bytes that are not UTF-8.
    body = urlencode({**form, "csrf_token": csrf.split('"')[0]}, errors="surrogatepass")
    response = client.post("/researcher/login", query_string={"next": next_target},
                           data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 303, 400, 401), response.data[:300]
    if response.status_code == 303:
        assert response.headers["Location"].startswith("/researcher/")
