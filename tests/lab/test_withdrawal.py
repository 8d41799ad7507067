"""Deleting a participant's data on request: nothing of them is left in any table or
export, the counts agree afterwards, and the audit log says only that it happened."""

from __future__ import annotations

import pytest
from sqlalchemy import String, cast, func, inspect, select, text

from experiment_host.extensions import db
from experiment_host.models import ConditionTally, Run
from experiment_host.researcher.dashboard import funnel
from tests.researcher.support import csrf_token

SECRET = "withdrawn-secret-7c1e"
USER_AGENT = "Mozilla/5.0 (X11) Chrome/130 withdrawn-agent-5d2a"


def everything(app) -> str:
    """Every value of every column of every table in the database, as one text."""
    parts = []
    with app.app_context():
        for name in inspect(db.engine).get_table_names():
            table = db.Table(name, db.MetaData(), autoload_with=db.engine)
            for column in table.columns:
                values = db.session.scalars(select(cast(column, String))).all()
                parts.extend(str(value) for value in values)
    return "\n".join(parts)


def exports(client) -> str:
    kinds = ("runs.csv", "trials.csv", "trials.jsonl")
    return "\n".join(client.get(f"/researcher/export/{slug}/{kind}?include_tests=1"
                                f"&worker_ids=raw&checkpoints=1").get_data(as_text=True)
                     for slug in ("open", "basic") for kind in kinds)


def take_part(client, open_task, participant, secret):
    config = open_task("/exp/open", participant=participant)
    client.post("/api/records", json={"token": config["token"], "records": [
        {"seq": 0, "data": {"answer": secret, "rt": 321}}]})
    client.post("/api/complete", json={"token": config["token"], "total": 1})
    return config


def tallies_match_runs(app, slug):
    with app.app_context():
        kept = dict(db.session.execute(select(ConditionTally.condition, ConditionTally.held)
                                       .where(ConditionTally.experiment_slug == slug)).all())
        counted = dict(db.session.execute(
            select(Run.condition, func.count()).where(
                Run.experiment_slug == slug, Run.status.in_(("completed", "submitted",
                                                             "approved")),
                Run.is_test.is_(False)).group_by(Run.condition)).all())
    return {k: v for k, v in kept.items() if v} == counted


def test_nothing_of_the_participant_remains_in_any_table_or_export(app, client, logged_in,
                                                                    open_task):
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    take_part(client, open_task, "PWITHDRAWN1", SECRET)
    client.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 Chrome/130 other"
    take_part(client, open_task, "PSTAYS0001", "stays-value")
    with app.app_context():
        run = db.session.scalar(select(Run).where(Run.worker_id == "PWITHDRAWN1"))
        # (open's completion code is one for everyone, so it is no trace of anyone)
        traces = {"PWITHDRAWN1", run.session_key, run.page_key, SECRET, USER_AGENT}
    before = everything(app) + exports(logged_in)
    assert all(trace in before for trace in traces)  # the search finds them when present
    result = app.test_cli_runner().invoke(args=["runs", "delete", "open", "--worker",
                                                "pwithdrawn1", "--yes"])
    assert result.exit_code == 0 and "Deleted 1 run(s)." in result.output, result.output
    after = everything(app) + exports(logged_in)
    left = [trace for trace in traces if trace in after]
    assert left == []
    assert "PSTAYS0001" in after and "stays-value" in after  # the others stay
    assert tallies_match_runs(app, "open")
    runs_csv = logged_in.get("/researcher/export/open/runs.csv").get_data(as_text=True)
    with app.app_context():
        assert funnel("open").accepted == len(runs_csv.splitlines()) - 1 == 1
        entries = db.session.execute(text("SELECT action, detail FROM audit_log "
                                          "WHERE action = 'delete'")).all()
    assert [tuple(entry) for entry in entries] == [("delete", "1 run(s) deleted on request")]


def test_the_plan_asks_first_and_each_selector_finds_the_run(app, client, open_task):
    runner = app.test_cli_runner()
    take_part(client, open_task, "PASKED0001", "x")
    with app.app_context():
        run = db.session.scalar(select(Run))
        run_id, code = run.id, run.completion_code
    kept = runner.invoke(args=["runs", "delete", "open", "--run", str(run_id)], input="n\n")
    assert kept.exit_code == 1 and "1 run(s) and 1 trial record(s)" in kept.output
    assert f"run {run_id}: link PASKED0001, completed, 1 trial(s)" in kept.output
    with app.app_context():
        assert db.session.get(Run, run_id) is not None
    for args in ([], ["--run", str(run_id), "--code", code]):
        wrong = runner.invoke(args=["runs", "delete", "open", *args, "--yes"])
        assert wrong.exit_code == 1 and "exactly one of" in wrong.output
    none = runner.invoke(args=["runs", "delete", "open", "--worker", "PNOBODY", "--yes"])
    assert none.exit_code == 1 and "nothing to delete" in none.output
    other = runner.invoke(args=["runs", "delete", "basic", "--run", str(run_id), "--yes"])
    assert other.exit_code == 1  # the run is not one of basic's
    gone = runner.invoke(args=["runs", "delete", "open", "--code", code], input="y\n")
    assert gone.exit_code == 0 and "Deleted 1 run(s)." in gone.output


def test_a_deleted_run_frees_its_place_and_its_page_stops_cleanly(app, client, logged_in,
                                                                   open_task):
    first = open_task("/exp/solo", participant="PFIRST0001")
    open_task("/exp/solo", participant="PSECOND001")
    assert client.get("/exp/solo", query_string={"participant": "PTHIRD0001"}).status_code == 409
    page = logged_in.get("/researcher/experiments/solo").get_data(as_text=True)
    assert 'class="delete-run"' in page
    with app.app_context():
        run_id = db.session.scalar(select(Run.id).where(Run.worker_id == "PFIRST0001"))
    url = f"/researcher/experiments/solo/runs/{run_id}/delete"
    asked = logged_in.post(url, data={"csrf_token": csrf_token(page)})
    assert asked.status_code == 200 and "PFIRST0001" in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Run, run_id) is not None  # only asked
    done = logged_in.post(url, data={"csrf_token": csrf_token(asked.get_data(as_text=True)),
                                     "confirm": "yes"})
    assert done.status_code == 303
    assert logged_in.post(url, data={"csrf_token": csrf_token(page), "confirm": "yes"}
                          ).status_code == 404  # a double click finds nothing more to do
    answer = client.post("/api/records", json={"token": first["token"], "records": [
        {"seq": 0, "data": {"rt": 1}}]})
    assert answer.status_code == 401 and answer.get_json()["error"]
    assert client.get("/exp/solo", query_string={"participant": "PTHIRD0001"}).status_code == 200
    assert tallies_match_runs(app, "solo")


@pytest.mark.parametrize("selector", ["--worker", "--code"])
def test_selectors_do_not_reach_other_experiments(app, client, open_task, selector):
    take_part(client, open_task, "PBOTH00001", "x")
    with app.app_context():
        code = db.session.scalar(select(Run.completion_code))
    value = "PBOTH00001" if selector == "--worker" else code
    result = app.test_cli_runner().invoke(args=["runs", "delete", "basic", selector, value,
                                                "--yes"])
    assert result.exit_code == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Run)) == 1
