"""Rate limits: per run on the data API, per IP on starting new runs; shared via the database."""

from __future__ import annotations

from sqlalchemy import func, select

from experiment_host import rate_limits
from experiment_host.extensions import db
from experiment_host.models import RateLimit, Run
from tests.helpers import records


def test_data_api_is_limited_per_run(app, client, start_run):
    mine, other = start_run(), start_run()
    app.config["RUN_REQUESTS_PER_MINUTE"] = 3
    answers = [client.post("/api/records", json={"token": mine["token"],
                                                  "records": records(i, i + 1)}).status_code
               for i in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    limited = client.post("/api/heartbeat", json={"token": mine["token"]})
    assert limited.status_code == 429 and limited.get_json()["error"] == "rate_limited"
    with app.app_context():
        assert db.session.get(Run, mine["run"]["id"]).record_count == 3  # 429s stored nothing
    # Another run's budget is its own.
    ok = client.post("/api/records", json={"token": other["token"], "records": records(0, 1)})
    assert ok.status_code == 200


def test_new_runs_are_limited_per_ip_but_resuming_is_not(app, client, mturk_args):
    app.config["NEW_RUNS_PER_IP_PER_HOUR"] = 2
    first = mturk_args()
    assert client.get("/exp/open", query_string=first).status_code == 200
    assert client.get("/exp/open", query_string=mturk_args()).status_code == 200
    refused = client.get("/exp/open", query_string=mturk_args())
    assert refused.status_code == 429 and b"try again later" in refused.data
    assert client.get("/exp/open", query_string=first).status_code == 200  # a reload resumes
    other_ip = client.get("/exp/open", query_string=mturk_args(),
                          environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other_ip.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Run)) == 3
        keys = set(db.session.scalars(select(RateLimit.key)))
    assert keys == {"new-run:127.0.0.1", "new-run:10.9.8.7"}


def test_a_request_for_a_new_run_counts_even_if_the_study_is_full(app, client, mturk_args):
    """The per-IP count is taken before the condition is chosen (so that the experiment's
    arrival lock is never held for it): a request refused as full has counted."""
    app.config["NEW_RUNS_PER_IP_PER_HOUR"] = 3
    assert [client.get("/exp/solo", query_string=mturk_args()).status_code
            for _ in range(3)] == [200, 200, 409]
    assert client.get("/exp/open", query_string=mturk_args()).status_code == 429
    with app.app_context():
        assert db.session.scalar(select(RateLimit.count)) == 3  # the 429 did not count
        assert db.session.scalar(select(func.count()).select_from(Run)) == 2


def test_a_runs_budget_comes_back_the_next_minute(app, client, start_run, rate_clock):
    run = start_run()
    app.config["RUN_REQUESTS_PER_MINUTE"] = 2
    answers = [client.post("/api/records", json={"token": run["token"],
                                                  "records": records(i, i + 1)}).status_code
               for i in range(3)]
    assert answers == [200, 200, 429]
    rate_clock.advance(60)
    again = client.post("/api/records", json={"token": run["token"], "records": records(2, 3)})
    assert again.status_code == 200 and again.get_json()["saved"] == 3


def test_new_runs_from_an_ip_are_allowed_again_the_next_hour(app, client, mturk_args,
                                                             rate_clock):
    app.config["NEW_RUNS_PER_IP_PER_HOUR"] = 1
    assert client.get("/exp/open", query_string=mturk_args()).status_code == 200
    assert client.get("/exp/open", query_string=mturk_args()).status_code == 429
    rate_clock.advance(3600)
    assert client.get("/exp/open", query_string=mturk_args()).status_code == 200
    with app.app_context():  # the hour that is over is forgotten
        assert db.session.scalars(select(RateLimit.window)).all() == [
            rate_limits.current_window(3600)]
