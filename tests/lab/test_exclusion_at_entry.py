"""exclude_experiments is enforced at entry on every platform, before a run is created."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.models import Platform, Run

PROLIFIC = {"STUDY_ID": "STUDY1", "SESSION_ID": "SESSION1"}


def runs_of(app, slug):
    with app.app_context():
        return db.session.scalar(select(func.count()).where(Run.experiment_slug == slug))


def test_a_link_participant_of_an_excluded_experiment_is_turned_away(app, client, open_task):
    open_task("/exp/open", participant="PALICE")
    answer = client.get("/exp/followup", query_string={"participant": "PALICE"})
    assert answer.status_code == 403
    assert b"already took part in a related study" in answer.data
    assert runs_of(app, "followup") == 0
    assert client.get("/exp/followup", query_string={"participant": "PBOB"}).status_code == 200
    assert runs_of(app, "followup") == 1


def test_prolific_and_mturk_participants_are_turned_away_too(app, client, open_task,
                                                             start_run, mturk_args):
    open_task("/exp/open", PROLIFIC_PID="PPID1", **PROLIFIC)
    refused = client.get("/exp/followup", query_string={
        "PROLIFIC_PID": "PPID1", "STUDY_ID": "STUDY2", "SESSION_ID": "SESSION2"})
    assert refused.status_code == 403
    start_run("basic", workerId="AMTURK0001")
    # Whatever MTurk's qualification says (a worker reaching the HIT before the next sync):
    # the app itself refuses, and MTurk ids compare in upper case.
    again = client.get("/exp/followup", query_string=mturk_args(workerId="amturk0001"))
    assert again.status_code == 403
    assert runs_of(app, "followup") == 0


def test_the_same_id_on_another_platform_is_someone_else(app, client, open_task):
    open_task("/exp/open", participant="SAMEID")
    answer = client.get("/exp/followup", query_string={"PROLIFIC_PID": "SAMEID", **PROLIFIC})
    assert answer.status_code == 200 and runs_of(app, "followup") == 1


def test_an_experiment_not_listed_does_not_exclude(app, client, open_task):
    open_task("/exp/followup", participant="PCAROL")
    # followup excludes open, not the other way round.
    assert client.get("/exp/open", query_string={"participant": "PCAROL"}).status_code == 200


def test_a_test_run_does_not_exclude_its_tester(app, client, open_task, test_url):
    url = test_url("open")
    tester = url.split("participant=")[1].split("&")[0]
    open_task(url)
    answer = client.get("/exp/followup", query_string={"participant": tester})
    assert answer.status_code == 200


@pytest.mark.parametrize("status", ["declined", "returned", "completed"])
def test_any_run_counts_as_taking_part(app, client, seed, status):
    seed(slug="basic", platform=Platform.LINK, worker="PDAVE", status=status)
    assert client.get("/exp/followup", query_string={"participant": "PDAVE"}).status_code == 403
