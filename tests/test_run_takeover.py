"""The repeat rule against a known worker id: a run moves to a new assignment (Prolific:
session) only when its own can no longer be worked on; otherwise nothing of it is shown or
changed. MTurk worker ids are the same worker in any letter case."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.models import ExperimentRow, Run, RunStatus, utcnow
from tests.conftest import POSTGRES_URL, build_app, dispose, needs_postgres, postgres_connection
from tests.helpers import records, task_config

VICTIM = "AVICTIM0000001"


def run_state(app, run_id: int) -> dict[str, Any]:
    """Every column of the run, and the experiment's arrival count."""
    with app.app_context():
        run = db.session.get(Run, run_id)
        state = {c.key: getattr(run, c.key) for c in Run.__table__.columns}
        state["arrivals"] = db.session.get(ExperimentRow, run.experiment_slug).arrivals
        return state


def set_run(app, run_id: int, quiet_minutes: float = 0, **values: Any) -> None:
    with app.app_context():
        run = db.session.get(Run, run_id)
        run.last_seen_at = utcnow() - timedelta(minutes=quiet_minutes)
        for key, value in values.items():
            setattr(run, key, value)
        db.session.commit()


@pytest.fixture
def victim(client, start_run) -> dict[str, Any]:
    """A consented MTurk run of ``basic`` with three records saved."""
    config = start_run(workerId=VICTIM)
    saved = client.post("/api/records", json={"token": config["token"], "records": records(0, 3)})
    assert saved.status_code == 200
    return config


def assert_moved(app, client, victim, newcomer) -> None:
    """The newcomer's page continues the victim's run, which now belongs to the newcomer's
    assignment: the old token no longer saves."""
    page = client.get("/exp/basic", query_string=newcomer)
    config = task_config(page.data)
    assert config["run"]["id"] == victim["run"]["id"] and config["run"]["next_seq"] == 3
    assert run_state(app, victim["run"]["id"])["session_key"] == newcomer["assignmentId"]
    stale = client.post("/api/records", json={"token": victim["token"], "records": records(3, 4)})
    assert stale.status_code == 401 and stale.get_json()["error"] == "superseded_token"


def assert_refused_untouched(app, client, victim, newcomer, slug: str = "basic") -> None:
    """A 409 page that shows nothing of the run, and the run exactly as it was."""
    before = run_state(app, victim["run"]["id"])
    page = client.get(f"/exp/{slug}", query_string=newcomer)
    html = page.get_data(as_text=True)
    assert page.status_code == 409, html
    assert "already open under another assignment" in html and "return this HIT" in html
    assert "experiment-host-config" not in html and "token" not in html
    assert run_state(app, victim["run"]["id"]) == before


def test_quiet_longer_than_the_abandon_window_moves(app, client, victim, mturk_args):
    set_run(app, victim["run"]["id"], quiet_minutes=app.config["ABANDON_AFTER_MINUTES"] + 1)
    assert_moved(app, client, victim, mturk_args(workerId=VICTIM))


def test_the_experiments_own_abandon_window_counts(app, client, start_run, mturk_args):
    first = start_run("solo", workerId=VICTIM)  # abandon_after_minutes = 5
    set_run(app, first["run"]["id"], quiet_minutes=4)
    assert client.get("/exp/solo", query_string=mturk_args(workerId=VICTIM)).status_code == 409
    set_run(app, first["run"]["id"], quiet_minutes=6)
    config = task_config(client.get("/exp/solo", query_string=mturk_args(workerId=VICTIM)).data)
    assert config["run"]["id"] == first["run"]["id"]


@pytest.mark.parametrize("status", [RunStatus.RETURNED, RunStatus.ABANDONED])
def test_returned_or_abandoned_moves_at_once(app, client, victim, mturk_args, status):
    set_run(app, victim["run"]["id"], status=status)  # as `flask hits sync` sets it
    assert_moved(app, client, victim, mturk_args(workerId=VICTIM))
    assert run_state(app, victim["run"]["id"])["status"] == RunStatus.IN_PROGRESS


def test_declined_moves_and_asks_for_consent_again(app, client, mturk_args):
    args = mturk_args(workerId=VICTIM)
    page = client.get("/exp/basic", query_string=args)
    token = page.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    client.post("/exp/basic/consent", data={"token": token, "decision": "decline"})
    again = client.get("/exp/basic", query_string=mturk_args(workerId=VICTIM))
    assert again.status_code == 200 and b'name="decision"' in again.data
    with app.app_context():
        run = db.session.scalars(select(Run)).one()
        assert run.status == RunStatus.IN_PROGRESS and run.consented_at is None


def test_active_run_is_refused_and_nothing_changes(app, client, victim, mturk_args):
    set_run(app, victim["run"]["id"], quiet_minutes=app.config["ABANDON_AFTER_MINUTES"] - 1)
    assert_refused_untouched(app, client, victim, mturk_args(workerId=VICTIM))
    saved = client.post("/api/records", json={"token": victim["token"], "records": records(3, 4)})
    assert saved.status_code == 200 and saved.get_json()["saved"] == 4


def test_completed_run_stays_with_its_assignment_however_quiet(app, client, victim,
                                                              mturk_args):
    completed = client.post("/api/complete", json={"token": victim["token"], "total": 3})
    assert completed.status_code == 200
    set_run(app, victim["run"]["id"], quiet_minutes=10 * app.config["ABANDON_AFTER_MINUTES"])
    assert_refused_untouched(app, client, victim, mturk_args(workerId=VICTIM))
    done = client.get("/exp/basic", query_string=victim["args"])
    assert f'value="{victim["args"]["assignmentId"]}"' in done.get_data(as_text=True)


def test_a_move_counts_toward_new_runs_per_ip(app, client, victim, mturk_args):
    app.config["NEW_RUNS_PER_IP_PER_HOUR"] = 1  # the victim's own arrival used it
    set_run(app, victim["run"]["id"], quiet_minutes=app.config["ABANDON_AFTER_MINUTES"] + 1)
    before = run_state(app, victim["run"]["id"])
    page = client.get("/exp/basic", query_string=mturk_args(workerId=VICTIM))
    assert page.status_code == 429 and b"experiment-host-config" not in page.data
    assert run_state(app, victim["run"]["id"]) == before


def test_refused_arrivals_count_toward_new_runs_per_ip(app, client, victim, mturk_args):
    app.config["NEW_RUNS_PER_IP_PER_HOUR"] = 3
    assert client.get("/exp/basic", query_string=mturk_args(workerId=VICTIM)).status_code == 409
    assert client.get("/exp/basic", query_string=mturk_args(workerId=VICTIM)).status_code == 409
    assert client.get("/exp/basic", query_string=mturk_args(workerId=VICTIM)).status_code == 429


def test_a_reload_of_the_same_assignment_is_not_an_arrival(app, client, victim):
    app.config["NEW_RUNS_PER_IP_PER_HOUR"] = 1
    page = client.get("/exp/basic", query_string=victim["args"])
    assert task_config(page.data)["run"]["id"] == victim["run"]["id"]


@pytest.fixture
def prolific_only(tmp_path: Path, make_app):
    """An app whose one experiment runs on Prolific and allows each participant once."""
    folder = tmp_path / "experiments" / "once"
    folder.mkdir(parents=True)
    (folder / "experiment.toml").write_text(
        'title = "Once"\ndescription = "d"\nduration_minutes = 1\n\n[[conditions]]\n'
        'name = "a"\n\n[prolific]\ncompletion_code = "ONCE1"\n')
    (folder / "task.html").write_text("<html><head></head><body>task</body></html>")
    return make_app(EXPERIMENTS_DIR=str(tmp_path / "experiments"))


def test_prolific_session_is_refused_with_prolifics_words(app, prolific_only):
    client = prolific_only.test_client()
    args = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "S1", "SESSION_ID": "SESS1"}
    first = task_config(client.get("/exp/once", query_string=args).data)
    page = client.get("/exp/once", query_string={**args, "SESSION_ID": "SESS2"})
    html = page.get_data(as_text=True)
    assert page.status_code == 409 and "another Prolific submission" in html
    assert "experiment-host-config" not in html
    set_run(prolific_only, first["run"]["id"], status=RunStatus.RETURNED)
    moved = task_config(client.get("/exp/once", query_string={**args, "SESSION_ID": "SESS3"}).data)
    assert moved["run"]["id"] == first["run"]["id"]


def test_mturk_worker_ids_are_one_worker_in_any_case(app, client, start_run, mturk_args):
    first = start_run(workerId="amixedcase0001")
    assert run_state(app, first["run"]["id"])["worker_id"] == "AMIXEDCASE0001"
    page = client.get("/exp/basic", query_string=mturk_args(workerId="AMixedCase0001"))
    assert page.status_code == 409
    set_run(app, first["run"]["id"], status=RunStatus.SUBMITTED)
    page = client.get("/exp/basic", query_string=mturk_args(workerId="AMIXEDCASE0001"))
    assert page.status_code == 403


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(
    st.sampled_from(["assignmentId", "hitId", "turkSubmitTo", "PROLIFIC_PID", "SESSION_ID",
                     "STUDY_ID", "participant"]),
    st.one_of(st.text(alphabet="AZaz09_-", min_size=1, max_size=12),
              st.sampled_from(["https://workersandbox.mturk.com", VICTIM])),
    max_size=5),
       worker=st.sampled_from([VICTIM, VICTIM.lower(), VICTIM.title()]))
def test_a_known_worker_id_never_opens_an_active_run(app, client, victim, params, worker):
    app.config["NEW_RUNS_PER_IP_PER_HOUR"] = 10**9
    before = run_state(app, victim["run"]["id"])
    args = {**params, "workerId": worker}
    if args.get("assignmentId") == victim["args"]["assignmentId"]:
        return
    page = client.get("/exp/basic", query_string=args, follow_redirects=True)
    assert page.status_code < 500
    assert victim["token"] not in page.get_data(as_text=True)
    config = task_config(page.data) if b"experiment-host-config" in page.data else None
    assert config is None or config["run"]["id"] != victim["run"]["id"]
    after = run_state(app, victim["run"]["id"])
    assert after == {**before, "arrivals": after["arrivals"]}


def lock_waiters(connection) -> int:
    return connection.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()").fetchone()[0]


@needs_postgres
def test_a_save_committing_meanwhile_keeps_the_run_with_its_page(mturk_args):
    """The move is decided on the run's row once no write of the run is in flight: a save
    of the run's own page that commits while the newcomer waits counts as activity."""
    app = build_app(POSTGRES_URL)
    client = app.test_client()
    own = mturk_args(workerId=VICTIM)
    run_id = task_config(client.get("/exp/solo", query_string=own).data)["run"]["id"]
    set_run(app, run_id, quiet_minutes=6)  # solo's abandon window is 5 minutes
    holder, other = postgres_connection(), postgres_connection(autocommit=True)
    try:
        holder.execute("UPDATE runs SET last_seen_at = %s WHERE id = %s",
                       (datetime.now(UTC).replace(tzinfo=None), run_id))  # a save, in flight
        answered: list[int] = []
        newcomer = threading.Thread(target=lambda: answered.append(app.test_client().get(
            "/exp/solo", query_string=mturk_args(workerId=VICTIM)).status_code))
        newcomer.start()
        while lock_waiters(other) == 0 and newcomer.is_alive():
            time.sleep(0.01)
        holder.commit()
        newcomer.join(30)
        assert answered == [409]
        assert run_state(app, run_id)["session_key"] == own["assignmentId"]
    finally:
        holder.rollback()
        holder.close()
        other.close()
        dispose(app)


def test_a_run_of_this_assignment_found_as_the_workers_latest_is_resumed(app, victim):
    """A request that missed its assignment's run (created by its twin meanwhile) and then
    found it as the worker's latest resumes it rather than being refused a move."""
    from experiment_host.experiments import registry
    from experiment_host.models import Platform
    from experiment_host.platforms import Identity
    from experiment_host.runs import Entered, _come_back

    args = victim["args"]
    with app.test_request_context():
        run = db.session.get(Run, victim["run"]["id"])
        same = Identity(Platform.MTURK, args["workerId"], args["assignmentId"], args["hitId"],
                        args["turkSubmitTo"])
        outcome = _come_back(registry()["basic"], run, same, 60)
        db.session.commit()
    assert isinstance(outcome, Entered) and outcome.run.id == victim["run"]["id"]
