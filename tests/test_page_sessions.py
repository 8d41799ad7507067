"""Page sessions: each page served for a run supersedes the run's earlier pages.

Two tabs of one assignment (or a page and its reload) share the platform's ids, so the
run's session key cannot tell them apart: the page key can, and only the latest page saves.
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import Run, TrialRecord
from tests.helpers import records, task_config

SUPERSEDED = "This study is open in another window or tab: please continue there."


def open_again(client: FlaskClient, config: dict[str, Any], slug: str = "basic"
               ) -> dict[str, Any]:
    """The run's task page served again for the same assignment (a second tab, a reload)."""
    return task_config(client.get(f"/exp/{slug}", query_string=config["args"]).data)


def stored(app, run_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        return list(db.session.scalars(
            select(TrialRecord.data).where(TrialRecord.run_id == run_id)
            .order_by(TrialRecord.seq)))


def assert_superseded(response) -> None:
    assert response.status_code == 401, response.data
    assert response.get_json() == {"error": "superseded_token", "message": SUPERSEDED}


def test_every_page_gets_its_own_key_and_only_the_latest_saves(client, app, start_run):
    first = start_run()
    saved = client.post("/api/records", json={"token": first["token"],
                                              "records": records(0, 2, tab="first")})
    assert saved.status_code == 200
    second = open_again(client, first)
    assert second["run"]["id"] == first["run"]["id"]
    assert second["page"] != first["page"]
    assert second["run"]["next_seq"] == 2 and second["run"]["saved"] == 2
    with app.app_context():
        assert db.session.get(Run, first["run"]["id"]).page_key == second["page"]
    # Known keys take the plain save; a new key the transactional one: both refuse.
    for data in (records(2, 4, tab="first"), records(2, 4, tab="first", new_key=1)):
        assert_superseded(client.post("/api/records",
                                      json={"token": first["token"], "records": data}))
    token = first["token"]
    assert_superseded(client.post("/api/heartbeat", json={"token": token}))
    assert_superseded(client.get("/api/records", query_string={"token": token}))
    assert_superseded(client.post("/api/complete", json={"token": token, "total": 2}))
    assert_superseded(client.post("/api/bonus", json={"token": token, "amount": "0.10",
                                                      "reason": "score"}))
    later = client.post("/api/records", json={"token": second["token"],
                                              "records": records(2, 4, tab="second")})
    assert later.status_code == 200 and later.get_json()["saved"] == 4
    done = client.post("/api/complete", json={"token": second["token"], "total": 4})
    assert done.status_code == 200
    assert [r["tab"] for r in stored(app, first["run"]["id"])] == ["first"] * 2 + ["second"] * 2


def test_a_superseded_consent_page_cannot_consent(client, app, mturk_args):
    args = mturk_args()
    first = client.get("/exp/basic", query_string=args)
    second = client.get("/exp/basic", query_string=args)
    tokens = [page.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
              for page in (first, second)]
    assert tokens[0] != tokens[1]
    stale = client.post("/exp/basic/consent", data={"token": tokens[0], "decision": "agree"})
    assert stale.status_code == 401
    assert SUPERSEDED.encode() in stale.data
    with app.app_context():
        assert db.session.scalar(select(Run.consented_at)) is None
    agreed = client.post("/exp/basic/consent", data={"token": tokens[1], "decision": "agree"},
                         follow_redirects=True)
    config = task_config(agreed.data)
    assert client.post("/api/records", json={"token": config["token"],
                                             "records": records(0, 1)}).status_code == 200


def test_a_finished_run_keeps_its_page_key(client, app, start_run):
    config = start_run()
    client.post("/api/records", json={"token": config["token"], "records": records(0, 1)})
    assert client.post("/api/complete",
                       json={"token": config["token"], "total": 1}).status_code == 200
    client.get("/exp/basic", query_string=config["args"])  # the done page, no new key
    done = client.get(config["done_url"])
    assert done.status_code == 200, done.data


def test_page_key_is_in_no_index():
    # Every save updates the run's row under this guard: it must stay a HOT update.
    indexed = {column.name for index in Run.__table__.indexes for column in index.columns}
    unique = {column.name for constraint in Run.__table__.constraints
              for column in getattr(constraint, "columns", ())}
    assert "page_key" not in indexed | unique - {"id"}
