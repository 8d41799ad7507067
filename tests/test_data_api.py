"""The data API: idempotent saves, complete rules, and every kind of bad input."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus, TrialRecord, utcnow
from experiment_host.saving import SEEN_RESOLUTION
from tests.conftest import TEST_EXPERIMENTS, run_by_id
from tests.helpers import records, task_config


def stored(app, run_id: int) -> list[tuple[int, dict]]:
    with app.app_context():
        rows = db.session.execute(
            select(TrialRecord.seq, TrialRecord.data)
            .where(TrialRecord.run_id == run_id).order_by(TrialRecord.seq)
        )
        return [(seq, data) for seq, data in rows]


def test_save_batch_and_resend_is_stored_once(client, app, start_run):
    config = start_run()
    token, run_id = config["token"], config["run"]["id"]
    first = client.post("/api/records", json={"token": token, "records": records(0, 5)})
    assert first.status_code == 200
    assert first.get_json() == {"stored": 5, "duplicates": 0, "saved": 5, "next_seq": 5}
    again = client.post("/api/records", json={"token": token, "records": records(3, 8)})
    assert again.get_json() == {"stored": 3, "duplicates": 2, "saved": 8, "next_seq": 8}
    rows = stored(app, run_id)
    assert [seq for seq, _ in rows] == list(range(8))
    assert rows[2][1] == {"trial": 2, "rt": 402}
    with app.app_context():
        assert db.session.get(Run, run_id).record_count == 8


def test_out_of_order_records_are_kept(client, app, start_run):
    config = start_run()
    client.post("/api/records", json={"token": config["token"], "records": records(5, 7)})
    response = client.post("/api/records",
                           json={"token": config["token"], "records": records(0, 5)})
    assert response.get_json()["saved"] == 7
    assert [seq for seq, _ in stored(app, config["run"]["id"])] == list(range(7))


def test_resent_seq_with_different_data_is_a_conflict(client, app, start_run):
    config = start_run()
    client.post("/api/records", json={"token": config["token"], "records": records(0, 2)})
    clash = [{"seq": 1, "data": {"trial": 99}}, {"seq": 2, "data": {"trial": 2}}]
    response = client.post("/api/records", json={"token": config["token"], "records": clash})
    assert response.status_code == 409
    assert response.get_json()["error"] == "seq_conflict"
    assert response.get_json()["seqs"] == [1]
    assert [seq for seq, _ in stored(app, config["run"]["id"])] == [0, 1]  # seq 2 not half-saved


def test_nested_unicode_data_round_trips(client, app, start_run):
    config = start_run()
    data = {"text": "naïve, \"quoted\"\nline 😀", "nested": {"a": [1, 2, {"b": None}]},
            "big": 2**53, "float": 0.1, "empty": "", "nul": "a\u0000b"}
    response = client.post("/api/records", json={"token": config["token"],
                                                 "records": [{"seq": 0, "data": data}]})
    assert response.status_code == 200, response.get_json()
    assert stored(app, config["run"]["id"])[0][1] == data


def test_read_back_records_after(client, start_run):
    config = start_run()
    client.post("/api/records", json={"token": config["token"], "records": records(0, 6)})
    response = client.get("/api/records", query_string={"token": config["token"], "after": 3})
    body = response.get_json()
    assert [r["seq"] for r in body["records"]] == [4, 5] and body["next_seq"] == 6
    bad = client.get("/api/records", query_string={"token": config["token"], "after": "x"})
    assert bad.status_code == 400


def test_complete_refused_while_records_missing(client, app, start_run):
    config = start_run()
    client.post("/api/records", json={"token": config["token"],
                                      "records": records(0, 3) + records(5, 6)})
    response = client.post("/api/complete", json={"token": config["token"], "total": 7})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "records_missing" and body["missing"] == [3, 4, 6]
    with app.app_context():
        assert db.session.get(Run, config["run"]["id"]).status == RunStatus.IN_PROGRESS


def test_complete_with_fewer_than_stored_is_refused(client, start_run):
    config = start_run()
    client.post("/api/records", json={"token": config["token"], "records": records(0, 3)})
    response = client.post("/api/complete", json={"token": config["token"], "total": 2})
    assert response.status_code == 409 and response.get_json()["error"] == "total_mismatch"


def test_complete_without_records_is_refused(client, app, start_run):
    config = start_run()
    token, run_id = config["token"], config["run"]["id"]
    response = client.post("/api/complete", json={"token": token, "total": 0})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "too_few_records" and body["min_records"] == 1
    assert "at least 1" in body["message"]
    run = run_by_id(app, run_id)
    assert run.status == RunStatus.IN_PROGRESS and run.completed_at is None
    client.post("/api/records", json={"token": token, "records": records(0, 1)})
    assert client.post("/api/complete", json={"token": token, "total": 1}).status_code == 200


def test_experiment_sets_its_minimum_of_records(client, app, make_app, mturk_args, tmp_path):
    folder = tmp_path / "experiments" / "basic"
    shutil.copytree(TEST_EXPERIMENTS / "basic", folder)
    toml = folder / "experiment.toml"
    toml.write_text("min_records = 3\n" + toml.read_text())
    strict = make_app(EXPERIMENTS_DIR=str(folder.parent)).test_client()
    page = strict.get("/exp/basic", query_string=mturk_args(), follow_redirects=True)
    consent = page.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    config = task_config(strict.post("/exp/basic/consent", data={
        "token": consent, "decision": "agree"}, follow_redirects=True).data)
    token = config["token"]
    strict.post("/api/records", json={"token": token, "records": records(0, 2)})
    refused = strict.post("/api/complete", json={"token": token, "total": 2})
    assert refused.status_code == 409
    assert refused.get_json() | {"message": ""} == {
        "error": "too_few_records", "message": "", "min_records": 3, "saved": 2}
    # Records still missing below a large enough total are named as before.
    missing = strict.post("/api/complete", json={"token": token, "total": 3})
    assert missing.get_json()["error"] == "records_missing"
    strict.post("/api/records", json={"token": token, "records": records(2, 3)})
    assert strict.post("/api/complete", json={"token": token, "total": 3}).status_code == 200
    assert run_by_id(app, config["run"]["id"]).record_count == 3


def test_complete_once_then_refused_and_records_refused(client, app, start_run):
    config = start_run()
    token = config["token"]
    client.post("/api/records", json={"token": token, "records": records(0, 3)})
    first = client.post("/api/complete", json={"token": token, "total": 3})
    assert first.status_code == 200
    body = first.get_json()
    assert body["status"] == "completed" and body["completion_code"]
    with app.app_context():
        completed_at = db.session.get(Run, config["run"]["id"]).completed_at
    second = client.post("/api/complete", json={"token": token, "total": 3})
    assert second.status_code == 409
    assert second.get_json()["error"] == "already_completed"
    assert second.get_json()["completion_code"] == body["completion_code"]
    late = client.post("/api/records", json={"token": token, "records": records(3, 4)})
    assert late.status_code == 409 and late.get_json()["error"] == "run_finished"
    with app.app_context():
        run = db.session.get(Run, config["run"]["id"])
        assert run.completed_at == completed_at and run.record_count == 3
    assert len(stored(app, config["run"]["id"])) == 3


def seen_long_ago(app, run_id: int, seconds_ago: float) -> datetime:
    """Set the run's last_seen_at back in time; the value set."""
    with app.app_context():
        run = db.session.get(Run, run_id)
        run.last_seen_at = utcnow() - timedelta(seconds=seconds_ago)
        db.session.commit()
        return run.last_seen_at


def test_heartbeat_updates_last_seen(client, app, start_run):
    config = start_run()
    run_id = config["run"]["id"]
    before = seen_long_ago(app, run_id, 60)
    response = client.post("/api/heartbeat", json={"token": config["token"]})
    assert response.status_code == 200
    assert response.get_json() == {"status": "in_progress", "saved": 0}
    assert run_by_id(app, run_id).last_seen_at > before + timedelta(seconds=59)


@pytest.mark.parametrize("request_kind", ["save", "resend", "heartbeat"])
def test_last_seen_moves_on_only_when_older_than_its_resolution(
        client, app, start_run, request_kind):
    """Each kind of request refreshes an old last_seen_at, and leaves one that is within
    SEEN_RESOLUTION of now as it is (the saves then change no indexed column of the run)."""
    config = start_run()
    run_id, token = config["run"]["id"], config["token"]
    client.post("/api/records", json={"token": token, "records": records(0, 2)})

    def send(first: int) -> None:
        if request_kind == "heartbeat":
            response = client.post("/api/heartbeat", json={"token": token})
        else:  # a resend holds a stored seq: the transactional save, not the plain one
            start = 1 if request_kind == "resend" else first
            response = client.post("/api/records",
                                   json={"token": token, "records": records(start, first + 2)})
        assert response.status_code == 200, response.get_json()

    stale = seen_long_ago(app, run_id, SEEN_RESOLUTION.total_seconds() + 1)
    send(2)
    refreshed = run_by_id(app, run_id).last_seen_at
    assert refreshed > stale + SEEN_RESOLUTION
    send(4)
    assert run_by_id(app, run_id).last_seen_at == refreshed
    recent = seen_long_ago(app, run_id, SEEN_RESOLUTION.total_seconds() - 5)
    send(6)
    assert run_by_id(app, run_id).last_seen_at == recent


BAD_BODIES = [
    (b"{not json", 400, "invalid_json"),
    (b"", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (b'"text"', 400, "invalid_json"),
    (b'{"token": "T", "records": [{"seq": NaN, "data": {}}]}', 400, "invalid_json"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
    (b"\xff\xfe\x00garbage", 400, "invalid_json"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES)
def test_malformed_bodies(client, app, start_run, body, status, code):
    start_run()
    for path in ("/api/records", "/api/heartbeat", "/api/complete"):
        response = client.post(path, data=body, content_type="application/json")
        assert response.status_code == status, (path, response.get_json())
        assert response.get_json()["error"] == code
        assert response.get_json()["message"]


@pytest.mark.parametrize("bad_records", [
    "not a list",
    [1],
    [{"seq": 0}],
    [{"seq": 0, "data": {}, "extra": 1}],
    [{"seq": "0", "data": {}}],
    [{"seq": 1.5, "data": {}}],
    [{"seq": True, "data": {}}],
    [{"seq": -1, "data": {}}],
    [{"seq": 10**12, "data": {}}],
    [{"seq": 0, "data": [1, 2]}],
    [{"seq": 0, "data": "x"}],
    [{"seq": 0, "data": {}}, {"seq": 0, "data": {}}],
    [{"seq": 0, "data": {"s": "\ud800"}}],
])
def test_wrong_types_change_nothing(client, app, start_run, bad_records):
    config = start_run()
    response = client.post("/api/records", json={"token": config["token"], "records": bad_records})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_records"
    assert stored(app, config["run"]["id"]) == []


@pytest.mark.parametrize("number", ["1e400", "-1e999", "2e308"])
def test_a_number_beyond_a_doubles_range_is_refused_and_nothing_kept(client, app, start_run,
                                                                     number):
    """Parsed, it would be infinite, which is not JSON: no database could store it."""
    config = start_run()
    body = ('{"token": "' + config["token"] + '", "records": [{"seq": 0, "data": {"t": 1}}, '
            '{"seq": 1, "data": {"x": ' + number + '}}]}')
    response = client.post("/api/records", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"
    assert number in response.get_json()["message"]
    assert stored(app, config["run"]["id"]) == []
    fine = body.replace(number, "1.5e300")
    assert client.post("/api/records", data=fine, content_type="application/json"
                       ).get_json()["saved"] == 2


def test_lone_surrogate_escape_in_raw_json_is_refused(client, app, start_run):
    config = start_run()
    body = ('{"token": "' + config["token"]
            + '", "records": [{"seq": 0, "data": {"s": "\\ud800"}}]}')
    response = client.post("/api/records", data=body, content_type="application/json")
    assert response.status_code == 400
    assert stored(app, config["run"]["id"]) == []


def test_too_many_records_and_oversize_body(client, app, start_run):
    config = start_run()
    response = client.post("/api/records", json={"token": config["token"],
                                                 "records": records(0, 501)})
    assert response.status_code == 413 and response.get_json()["error"] == "too_many_records"
    huge = {"token": config["token"], "records": [{"seq": 0, "data": {"x": "y" * 1_100_000}}]}
    response = client.post("/api/records", data=json.dumps(huge), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_entity_too_large"
    assert stored(app, config["run"]["id"]) == []


def test_body_limit_is_configurable(make_app):
    small = make_app(MAX_CONTENT_LENGTH=2000)
    response = small.test_client().post("/api/records", data="x" * 3000)
    assert response.status_code == 413


@pytest.mark.parametrize("token", [None, "", 5, "garbage", "a" * 600, ["list"]])
def test_missing_or_forged_tokens(client, app, start_run, token):
    config = start_run()
    for path, body in (("/api/records", {"records": records(0, 1)}), ("/api/heartbeat", {}),
                       ("/api/complete", {"total": 0})):
        response = client.post(path, json={"token": token, **body})
        assert response.status_code == 401, path
        assert response.get_json()["error"] == "invalid_token"
    assert stored(app, config["run"]["id"]) == []


def test_token_signed_with_another_key_is_refused(client, app, start_run, make_app):
    config = start_run()
    other = make_app(SECRET_KEY="another-key")
    with other.test_request_context():
        from experiment_host import tokens
        forged = tokens.issue(config["run"]["id"], config["page"], "stroop")
    response = client.post("/api/records", json={"token": forged, "records": records(0, 1)})
    assert response.status_code == 401


def test_expired_token(client, app, start_run):
    config = start_run()
    app.config["RUN_TOKEN_MAX_AGE"] = -1
    response = client.post("/api/records",
                           json={"token": config["token"], "records": records(0, 1)})
    assert response.status_code == 401
    assert response.get_json()["error"] == "expired_token"
    assert "reload" in response.get_json()["message"]


def test_a_token_already_checked_still_expires(client, app, start_run):
    config = start_run()
    body = {"token": config["token"], "records": records(0, 1)}
    assert client.post("/api/records", json=body).status_code == 200  # remembered as valid
    app.config["RUN_TOKEN_MAX_AGE"] = -1
    response = client.post("/api/records", json=body)
    assert response.status_code == 401
    assert response.get_json()["error"] == "expired_token"


def test_token_without_experiment_is_refused(client, app, start_run):
    """Tokens have named their experiment since 2026-11-22; any issued before that is past
    RUN_TOKEN_MAX_AGE, so a token without one is refused, never looked up."""
    config = start_run()
    with app.app_context():  # its page was served before page keys: migration 0010's key
        db.session.execute(update(Run).values(page_key=Run.session_key))
        db.session.commit()
    with app.test_request_context():
        from experiment_host import tokens
        old = tokens._serializer().dumps(
            {"r": config["run"]["id"], "k": config["args"]["assignmentId"]})
    for path, body in (("/api/records", {"records": records(0, 2)}),
                       ("/api/complete", {"total": 2})):
        response = client.post(path, json={"token": old, **body})
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_token"
    assert stored(app, config["run"]["id"]) == []


def test_save_to_a_finished_run_keeps_nothing(client, app, start_run):
    config = start_run()
    token, run_id = config["token"], config["run"]["id"]
    client.post("/api/records", json={"token": token, "records": records(0, 2)})
    assert client.post("/api/complete", json={"token": token, "total": 2}).status_code == 200
    response = client.post("/api/records", json={"token": token, "records": records(2, 4)})
    assert response.status_code == 409
    assert response.get_json()["error"] == "run_finished"
    assert [seq for seq, _ in stored(app, run_id)] == [0, 1]
    with app.app_context():
        run = db.session.get(Run, run_id)
        assert (run.record_count, run.next_seq) == (2, 2)


def test_another_runs_token_writes_only_its_own_run(client, app, start_run):
    mine, theirs = start_run(), start_run()
    client.post("/api/records", json={"token": theirs["token"], "records": records(0, 2)})
    with app.app_context():
        rows = db.session.execute(
            select(TrialRecord.run_id, func.count()).group_by(TrialRecord.run_id))
        counts = {run_id: count for run_id, count in rows}
    assert counts == {theirs["run"]["id"]: 2}
    assert mine["run"]["id"] not in counts


def test_token_for_a_run_that_does_not_exist(client, app):
    with app.test_request_context():
        from experiment_host import tokens
        token = tokens.issue(424242, "ASSIGN", "stroop")
    response = client.post("/api/heartbeat", json={"token": token})
    assert response.status_code == 401


@pytest.mark.parametrize("total", [-1, "3", 1.0, None, 10**9, True])
def test_complete_total_must_be_a_count(client, start_run, total):
    config = start_run()
    response = client.post("/api/complete", json={"token": config["token"], "total": total})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_total"


def test_unknown_api_route_and_method_are_json(client):
    assert client.get("/api/nothing").get_json()["error"] == "not_found"
    response = client.get("/api/complete")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"


def test_beacon_content_type_text_plain_is_accepted(client, app, start_run):
    config = start_run()
    body = json.dumps({"token": config["token"], "records": records(0, 2)})
    response = client.post("/api/records", data=body, content_type="text/plain;charset=UTF-8")
    assert response.status_code == 200
    assert len(stored(app, config["run"]["id"])) == 2


@pytest.mark.parametrize("after, limit", [
    ("9" * 40, "10"), ("-" + "9" * 40, "10"), (str(2**31), "10"), (str(-2**63 - 1), "10"),
    ("0", "9" * 40), ("0", "-" + "9" * 40), ("-5", "2"),
])
def test_read_back_with_huge_numbers_is_answered(client, start_run, after, limit):
    config = start_run()
    client.post("/api/records", json={"token": config["token"], "records": records(0, 3)})
    response = client.get("/api/records", query_string={"token": config["token"],
                                                        "after": after, "limit": limit})
    assert response.status_code == 200, response.get_json()
    seqs = [r["seq"] for r in response.get_json()["records"]]
    expected = [seq for seq in range(3) if seq > int(after)]
    assert seqs == expected[:max(0, min(int(limit), 1000))]


@pytest.mark.parametrize("reason", ["a\u0000b", "lone \ud800 surrogate", "bell\u0007"])
def test_bonus_reason_that_cannot_be_stored_is_400(client, app, start_run, reason):
    config = start_run()
    body = json.dumps({"token": config["token"], "amount": "0.10", "reason": reason},
                      ensure_ascii=True)  # "\ud800" travels as JSON's escape, as browsers send
    response = client.post("/api/bonus", data=body, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_reason"
    assert run_by_id(app, config["run"]["id"]).bonus_cents is None
    fine = client.post("/api/bonus", json={"token": config["token"], "amount": "0.10",
                                           "reason": "tab\tand\nnewline"})
    assert fine.status_code == 200


def test_reading_records_and_bonus_count_toward_the_runs_budget(client, app, start_run):
    config = start_run()
    token = config["token"]
    app.config["RUN_REQUESTS_PER_MINUTE"] = 3
    assert client.get("/api/records", query_string={"token": token}).status_code == 200
    assert client.post("/api/bonus", json={"token": token, "amount": "0.10",
                                           "reason": "r"}).status_code == 200
    assert client.post("/api/heartbeat", json={"token": token}).status_code == 200
    over = client.get("/api/records", query_string={"token": token})
    assert over.status_code == 429 and over.get_json()["error"] == "rate_limited"
    bonus = client.post("/api/bonus", json={"token": token, "amount": "0.20", "reason": "r"})
    assert bonus.status_code == 429 and bonus.get_json()["error"] == "rate_limited"
    assert run_by_id(app, config["run"]["id"]).bonus_cents == 10  # the refused one changed none


def save_of(client, token, batch):
    return client.post("/api/records", json={"token": token, "records": batch})


def test_a_run_stores_at_most_run_max_records(client, app, start_run):
    config, other = start_run(), start_run()
    token, run_id = config["token"], config["run"]["id"]
    app.config["RUN_MAX_RECORDS"] = 5
    assert save_of(client, token, records(0, 3)).status_code == 200
    over = save_of(client, token, records(3, 6))  # known keys: refused on the plain path too
    assert over.status_code == 413 and over.get_json()["error"] == "run_full"
    assert over.get_json()["saved"] == 3
    new_keys = save_of(client, token, [{"seq": s, "data": {"new": s}} for s in (3, 4, 5)])
    assert new_keys.status_code == 413  # and the refused batch's keys got no column
    assert [seq for seq, _ in stored(app, run_id)] == [0, 1, 2]
    with app.app_context():
        assert "new" not in {name for name, in db.session.execute(
            text("SELECT name FROM experiment_columns"))}
    assert save_of(client, token, records(0, 3)).get_json()["duplicates"] == 3  # resends pass
    assert save_of(client, token, records(3, 5)).get_json()["saved"] == 5
    assert save_of(client, token, records(5, 6)).status_code == 413
    assert run_by_id(app, run_id).record_count == 5
    assert save_of(client, other["token"], records(0, 5)).status_code == 200  # its own cap


def data_bytes(datas) -> int:
    return sum(len(json.dumps(d, ensure_ascii=False).encode()) for d in datas)


def test_a_run_stores_at_most_run_max_bytes_counted_alike_on_every_path(client, app,
                                                                          start_run):
    config = start_run()
    token, run_id = config["token"], config["run"]["id"]
    datas = [{"text": "naïve 😀 \"q\"", "n": n, "nested": {"a": [n, None]}} for n in range(7)]
    batch = [{"seq": n, "data": d} for n, d in enumerate(datas)]
    assert save_of(client, token, batch[0:3]).status_code == 200  # new keys: transactional
    assert save_of(client, token, batch[2:5]).get_json()["duplicates"] == 1  # a resend too
    assert save_of(client, token, batch[5:6]).status_code == 200  # plain
    assert run_by_id(app, run_id).stored_bytes == data_bytes(datas[:6])
    app.config["RUN_MAX_BYTES"] = data_bytes(datas) - 1
    over = save_of(client, token, batch[6:7])
    assert over.status_code == 413 and over.get_json()["error"] == "run_full"
    assert run_by_id(app, run_id).stored_bytes == data_bytes(datas[:6])
    app.config["RUN_MAX_BYTES"] = data_bytes(datas)
    assert save_of(client, token, batch[6:7]).status_code == 200
    assert run_by_id(app, run_id).stored_bytes == data_bytes(datas)
