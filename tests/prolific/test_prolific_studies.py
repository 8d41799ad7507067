"""``flask prolific create / publish / pause / resume / stop / add-places / list / status``
against the Prolific simulator, with its faults."""

from __future__ import annotations

from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.prolific.models import ProlificStudy
from tests.prolific.conftest import faults


def test_create_makes_the_documented_draft_once(prolific, sim, app):
    first = prolific("create", "survey", "--yes")
    assert first.exit_code == 0, first.output
    assert "0.60 x 5 places = 3.00" in first.output and "Created draft study" in first.output
    [study] = sim.studies.values()
    assert study["status"] == "UNPUBLISHED" and study["reward"] == 60
    assert study["external_study_url"] == (
        "https://experiments.example.org/exp/survey?PROLIFIC_PID={{%PROLIFIC_PID%}}"
        "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}")
    assert study["prolific_id_option"] == "url_parameters"
    assert study["completion_codes"] == [{"code": "SURVEYDONE", "code_type": "COMPLETED",
                                          "actions": [{"action": "MANUALLY_REVIEW"}]}]
    assert study["filters"] == [{"filter_id": "approval_rate",
                                 "selected_range": {"lower": 90, "upper": 100}}]
    assert study["device_compatibility"] == ["desktop"]
    again = prolific("create", "survey", "--yes")
    assert again.exit_code == 0 and "Already created" in again.output
    assert len(sim.studies) == 1
    other_round = prolific("create", "survey", "--round", "2", "--yes")
    assert other_round.exit_code == 0 and len(sim.studies) == 2


def test_a_lost_answer_does_not_create_two_studies(prolific, sim, simulator, app):
    faults(simulator, lose_next=1, paths=["/studies/"])
    result = prolific("create", "survey", "--yes")
    # the create call was applied, its answer lost: the study is found by its internal name
    assert len(sim.studies) == 1, result.output
    assert result.exit_code == 0, result.output
    with app.app_context():
        row = db.session.scalar(select(ProlificStudy))
        assert row.study_id in sim.studies
    assert prolific("create", "survey", "--yes").exit_code == 0 and len(sim.studies) == 1


def test_dry_run_creates_nothing(prolific, sim, app):
    result = prolific("create", "survey", "--dry-run")
    assert result.exit_code == 0 and "Plan for experiment 'survey'" in result.output
    assert sim.studies == {}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProlificStudy)) == 0


def test_unknown_experiment_and_declined_prompt(prolific, sim):
    assert "There is no experiment 'nope'" in prolific("create", "nope", "--yes").output
    declined = prolific("create", "survey", input="n\n")
    assert declined.exit_code != 0 and sim.studies == {}


def test_publish_shows_cost_and_balance_and_moves_states(prolific, created_study, sim):
    study_id = created_study(publish=False)
    result = prolific("publish", study_id, "--yes")
    assert result.exit_code == 0, result.output
    assert "total with fee and VAT: 4.00" in result.output and "is now ACTIVE" in result.output
    balance = sim.balance_cents
    again = prolific("publish", study_id, "--yes")  # harmless: already published
    assert again.exit_code == 0 and "Nothing to do" in again.output
    assert sim.balance_cents == balance
    assert "is now PAUSED" in prolific("pause", study_id, "--yes").output
    assert "is now ACTIVE" in prolific("resume", study_id, "--yes").output
    assert "is now COMPLETED" in prolific("stop", study_id, "--yes").output
    assert sim.studies[study_id]["status"] == "COMPLETED"


def test_wrong_state_is_one_sentence(prolific, created_study):
    study_id = created_study(publish=False)
    result = prolific("pause", study_id, "--yes")
    assert result.exit_code == 1
    assert "Prolific refused pause of study" in result.output
    assert "Cannot PAUSE a study that is UNPUBLISHED" in result.output
    assert "Traceback" not in result.output


def test_insufficient_balance_is_refused_before_publishing(prolific, created_study, sim):
    study_id = created_study(publish=False)
    sim.balance_cents = 100
    result = prolific("publish", study_id, "--yes")
    assert result.exit_code == 1 and "balance does not cover" in result.output
    assert sim.studies[study_id]["status"] == "UNPUBLISHED"


def test_add_places_list_and_status(prolific, created_study, take, sim):
    study_id = created_study()
    added = prolific("add-places", study_id, "3", "--yes")
    assert added.exit_code == 0 and "now has 8 places" in added.output
    listed = prolific("list")
    assert study_id in listed.output and "ACTIVE" in listed.output
    take(study_id)
    take(study_id, n_records=0, complete=False)  # came back without data
    take(study_id, come_back=False)  # completed here, never reached Prolific
    status = prolific("status", study_id)
    assert status.exit_code == 0, status.output
    assert "1 active, 2 awaiting review" in status.output
    assert "with complete data here: 1; with none: 1" in status.output
    assert "completed here but never reached Prolific" in status.output


def test_missing_token_and_unknown_study(prolific, app):
    app.config["PROLIFIC_API_TOKEN"] = ""
    no_token = prolific("list")
    assert no_token.exit_code == 1 and "PROLIFIC_API_TOKEN is not set" in no_token.output
    app.config["PROLIFIC_API_TOKEN"] = "test-token"
    missing = prolific("publish", "0" * 24, "--yes")
    assert missing.exit_code == 1 and "(404)" in missing.output


def test_throttling_and_server_faults_are_retried(prolific, simulator, sim, created_study):
    study_id = created_study(publish=False)
    faults(simulator, throttle_next=2, fail_next=1)
    result = prolific("publish", study_id, "--yes")
    assert result.exit_code == 0, result.output
    assert sim.studies[study_id]["status"] == "ACTIVE"
    faults(simulator, throttle_next=20)
    throttled = prolific("list")
    assert throttled.exit_code == 1 and "throttling" in throttled.output
