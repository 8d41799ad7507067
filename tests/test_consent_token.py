"""Consent on the server: the consent page's token records the decision and nothing else;
the task page's token, issued once the participant agreed, does the work."""

from __future__ import annotations

from typing import Any

import pytest

from experiment_host import tokens
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus, utcnow
from tests.conftest import run_by_id
from tests.helpers import records, task_config


def consent_page(client, args: dict[str, str]) -> tuple[int, str]:
    """Open the entry URL of ``basic`` (which asks consent): the run id and the page's token."""
    page = client.get("/exp/basic", query_string=args)
    assert b'name="decision"' in page.data
    token = page.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    with client.application.test_request_context():
        return tokens.verify(token).run_id, token


def work_requests(token: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every request a token that may work on its run may make."""
    return [
        ("post", "/api/records", {"json": {"token": token, "records": records(0, 2)}}),
        ("post", "/api/complete", {"json": {"token": token, "total": 0}}),
        ("post", "/api/bonus", {"json": {"token": token, "amount": "0.50", "reason": "good"}}),
        ("post", "/api/heartbeat", {"json": {"token": token}}),
        ("get", "/api/records", {"query_string": {"token": token}}),
    ]


def assert_all_refused(client, app, run_id: int, token: str) -> None:
    before = run_by_id(app, run_id)
    for method, path, kwargs in work_requests(token):
        response = getattr(client, method)(path, **kwargs)
        assert response.status_code == 409, (path, response.get_json())
        assert response.get_json()["error"] == "consent_required", path
    after = run_by_id(app, run_id)
    assert (after.status, after.record_count, after.bonus_cents, after.last_seen_at) == (
        before.status, before.record_count, before.bonus_cents, before.last_seen_at)
    assert after.status == RunStatus.IN_PROGRESS and after.record_count == 0


def test_the_consent_pages_token_cannot_work_before_consent(client, app, mturk_args):
    run_id, token = consent_page(client, mturk_args())
    assert_all_refused(client, app, run_id, token)


def test_the_consent_pages_token_records_consent_and_still_cannot_work(client, app,
                                                                      mturk_args):
    args = mturk_args()
    run_id, token = consent_page(client, args)
    agreed = client.post("/exp/basic/consent", data={"token": token, "decision": "agree"})
    assert agreed.status_code == 303
    assert run_by_id(app, run_id).consented_at is not None
    assert_all_refused(client, app, run_id, token)
    task = task_config(client.get("/exp/basic", query_string=args).data)["token"]
    saved = client.post("/api/records", json={"token": task, "records": records(0, 2)})
    assert saved.status_code == 200 and saved.get_json()["saved"] == 2


def legacy_token(app, run_id: int, page_key: str) -> str:
    """A token as issued before tokens had a scope."""
    with app.test_request_context():
        return tokens._serializer().dumps({"r": run_id, "k": page_key, "e": "basic"})


def test_a_token_from_before_scopes_may_work_only_once_consented(client, app, mturk_args):
    args = mturk_args()
    run_id, _ = consent_page(client, args)
    old = legacy_token(app, run_id, run_by_id(app, run_id).page_key)
    assert_all_refused(client, app, run_id, old)
    with app.app_context():
        db.session.get(Run, run_id).consented_at = utcnow()
        db.session.commit()
    saved = client.post("/api/records", json={"token": old, "records": records(0, 2)})
    assert saved.status_code == 200 and saved.get_json()["saved"] == 2


def test_a_token_from_before_scopes_works_where_no_consent_is_asked(client, app, mturk_args):
    page = client.get("/exp/open", query_string=mturk_args())
    run_id = task_config(page.data)["run"]["id"]
    with app.test_request_context():
        old = tokens._serializer().dumps({"r": run_id, "k": run_by_id(app, run_id).page_key,
                                          "e": "open"})
    saved = client.post("/api/records", json={"token": old, "records": records(0, 2)})
    assert saved.status_code == 200


@pytest.mark.parametrize("scope", ["all", 1, None])
def test_a_token_with_an_unknown_scope_is_invalid(client, app, start_run, scope):
    config = start_run()
    with app.test_request_context():
        forged = tokens._serializer().dumps({"r": config["run"]["id"], "k": config["args"][
            "assignmentId"], "e": "basic", "s": scope})
    response = client.post("/api/records", json={"token": forged, "records": records(0, 1)})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_the_task_page_is_served_only_after_consent(client, app, mturk_args):
    args = mturk_args()
    run_id, _ = consent_page(client, args)
    again = client.get("/exp/basic", query_string=args)
    assert b"experiment-host-config" not in again.data
    token = again.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    client.post("/exp/basic/consent", data={"token": token, "decision": "agree"})
    config = task_config(client.get("/exp/basic", query_string=args).data)
    with app.test_request_context():
        assert tokens.verify(config["token"]).scope == tokens.TASK
    assert config["run"]["id"] == run_id
