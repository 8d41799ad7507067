"""Outcomes (issue 24): Prolific completion codes per outcome in ``[prolific]``, a task that
ends its run with ``finish({outcome})``, the experiment-level ``max_bonus``, and the words
each platform's participants read (issue 28)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from experiment_host.experiments import ExperimentConfigError, load_experiment
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus
from tests.helpers import records, task_config
from tests.test_experiment_config import make_experiment

OUTCOMES_TOML = '''
title = "Outcomes"
description = "A task that may screen participants out."
duration_minutes = 1
allow_open_link = true
max_bonus = "0.40"

[[conditions]]
name = "a"
quota = 5

[consent]
text = "<p>Agree?</p>"

[screening]
block_mobile = true
min_screen_width = 800

[[prolific.completion_codes]]
outcome = "completed"
code = "DONE1234"
code_type = "COMPLETED"
actions = ["AUTOMATICALLY_APPROVE"]

[[prolific.completion_codes]]
outcome = "screened_out"
code = "SCREEN99"
code_type = "OTHER"
actions = [{action = "REQUEST_RETURN", return_reason = "You did not meet the criteria."},
           {action = "ADD_TO_PARTICIPANT_GROUP", participant_group = "636e4f379e7d29c6875313e3"}]

[[prolific.completion_codes]]
outcome = "failed_attention"
code = "ATTN0001"
code_type = "FAILED_ATTENTION_CHECK"
actions = ["MANUALLY_REVIEW"]
'''
MINIMAL = 'title = "T"\ndescription = "D"\nduration_minutes = 1\n'
PROLIFIC = {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "STUDY1",
            "SESSION_ID": "SESSION1"}
MTURK = {"assignmentId": "ASSIGN000000000000000000001", "hitId": "HIT1",
         "workerId": "AWORKER0000001", "turkSubmitTo": "https://workersandbox.mturk.com"}
DESKTOP = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36"}
PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1"}


def write_experiment(root: Path, toml: str, slug: str = "outcomes") -> Path:
    return make_experiment(root, toml, slug)


@pytest.fixture
def outcomes_app(app: Flask, tmp_path: Path, make_app) -> Flask:
    """An app (on the schema `app` made) whose one experiment declares three outcomes."""
    write_experiment(tmp_path / "experiments", OUTCOMES_TOML)
    return make_app(EXPERIMENTS_DIR=str(tmp_path / "experiments"))


@pytest.fixture
def client(outcomes_app: Flask) -> FlaskClient:
    return outcomes_app.test_client()


def begin(client: FlaskClient, args: dict[str, str], headers: dict[str, str] = DESKTOP
          ) -> dict[str, Any]:
    """Enter, consent, save two records: the task page's config."""
    page = client.get("/exp/outcomes", query_string=args, headers=headers,
                      follow_redirects=True)
    token = page.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    page = client.post("/exp/outcomes/consent", data={"token": token, "decision": "agree"},
                       headers=headers, follow_redirects=True)
    config = task_config(page.data)
    saved = client.post("/api/records", json={"token": config["token"],
                                              "records": records(0, 2)})
    assert saved.status_code == 200
    return config


def finish(client: FlaskClient, config: dict[str, Any], **body: Any) -> Any:
    return client.post("/api/complete", json={"token": config["token"], "total": 2, **body})


def the_run(app: Flask) -> Run:
    with app.app_context():
        run = db.session.scalars(db.select(Run)).one()
        db.session.expunge(run)
        return run


# --------------------------------------------------------------------------- configuration

def test_codes_parse_with_their_actions_and_api_shape(tmp_path):
    config = load_experiment(write_experiment(tmp_path, OUTCOMES_TOML)).config
    prolific = config.prolific
    assert config.outcomes == ("completed", "screened_out", "failed_attention")
    assert prolific.completion_code == "DONE1234"
    assert prolific.code_for("screened_out").to_api() == {
        "code": "SCREEN99", "code_type": "OTHER", "actions": [
            {"action": "REQUEST_RETURN", "return_reason": "You did not meet the criteria."},
            {"action": "ADD_TO_PARTICIPANT_GROUP",
             "participant_group": "636e4f379e7d29c6875313e3"}]}
    assert prolific.code_for("completed").to_api()["actions"] == [
        {"action": "AUTOMATICALLY_APPROVE"}]
    with pytest.raises(KeyError):
        prolific.code_for("nope")
    assert str(config.bonus_limit) == "0.40"


def test_the_older_single_code_is_one_completed_code_for_manual_review(tmp_path):
    config = load_experiment(write_experiment(
        tmp_path, MINIMAL + '[prolific]\ncompletion_code = "OLD1"\n')).config
    (code,) = config.prolific.completion_codes
    assert code.to_api() == {"code": "OLD1", "code_type": "COMPLETED",
                             "actions": [{"action": "MANUALLY_REVIEW"}]}
    assert config.outcomes == ("completed",) and config.prolific.completion_code == "OLD1"


def test_max_bonus_at_the_top_or_the_older_hit_key(tmp_path):
    top = load_experiment(write_experiment(tmp_path, MINIMAL + 'max_bonus = "0.30"\n', "a"))
    old = load_experiment(write_experiment(tmp_path, MINIMAL + '[hit]\nmax_bonus = "1.5"\n',
                                           "b"))
    none = load_experiment(write_experiment(tmp_path, MINIMAL, "c"))
    assert [str(e.config.bonus_limit) for e in (top, old, none)] == ["0.30", "1.5", "0"]


CODE = '[[prolific.completion_codes]]\n'


@pytest.mark.parametrize(("toml", "problem"), [
    ('max_bonus = "0.30"\n[hit]\nmax_bonus = "0.30"\n', "max_bonus is set twice"),
    ('max_bonus = "lots"\n', "max_bonus"),
    ('[prolific]\ncompletion_code = "A1"\n[[prolific.completion_codes]]\ncode = "B1"\n',
     "not both"),
    (CODE + 'outcome = "screened_out"\ncode = "S1"\n', 'add a code for the outcome "completed"'),
    (CODE + 'code = "A1"\n' + CODE + 'code = "B1"\n', "one completion code"),
    (CODE + 'code = "A1"\n' + CODE + 'outcome = "other"\ncode = "A1"\n', "distinct"),
    (CODE + 'code = "A1"\nactions = ["REQUEST_RETURN"]\n', "return_reason is required"),
    (CODE + 'code = "A1"\nactions = ["ADD_TO_PARTICIPANT_GROUP"]\n',
     "participant_group is required"),
    (CODE + 'code = "A1"\nactions = [{action = "MANUALLY_REVIEW", return_reason = "x"}]\n',
     "return_reason is not allowed"),
    (CODE + 'code = "A1"\nactions = ["PAY_EVERYONE"]\n', "actions.0.action"),
    (CODE + 'code = "A1"\nactions = []\n', "at least one action"),
    (CODE + 'code = "A1"\ncode_type = "FINISHED"\n', "code_type"),
    (CODE + 'code = "has space"\n', "code"),
    (CODE + 'code = "A1"\noutcome = "Screened Out"\n', "outcome"),
    (CODE + 'code = "A1"\ncolour = "red"\n', "colour"),
])
def test_bad_completion_codes_name_the_problem(tmp_path, toml, problem):
    folder = write_experiment(tmp_path, MINIMAL + toml)
    with pytest.raises(ExperimentConfigError) as error:
        load_experiment(folder)
    assert str(folder) in str(error.value) and problem in str(error.value)


# --------------------------------------------------------------------------------- the API

def test_prolific_participant_screened_out_takes_that_outcomes_code(client, outcomes_app):
    config = begin(client, PROLIFIC)
    answer = finish(client, config, outcome="screened_out")
    assert answer.status_code == 200
    assert answer.get_json()["outcome"] == "screened_out"
    assert answer.get_json()["completion_code"] == "SCREEN99"
    run = the_run(outcomes_app)
    assert (run.status, run.outcome, run.completion_code) == (
        RunStatus.COMPLETED, "screened_out", "SCREEN99")
    done = client.get(config["done_url"]).get_data(as_text=True)
    assert "https://app.prolific.com/submissions/complete?cc=SCREEN99" in done
    assert "DONE1234" not in done


def test_finishing_without_an_outcome_is_completed(client, outcomes_app):
    config = begin(client, PROLIFIC)
    assert finish(client, config).get_json()["completion_code"] == "DONE1234"
    assert the_run(outcomes_app).outcome == "completed"
    assert "cc=DONE1234" in client.get(config["done_url"]).get_data(as_text=True)


@pytest.mark.parametrize(("outcome", "code"), [
    ("passed_out", "unknown_outcome"), ("", "unknown_outcome"), ("x" * 5000, "unknown_outcome"),
    (3, "invalid_outcome"), (None, "invalid_outcome"), (["completed"], "invalid_outcome"),
])
def test_an_unknown_outcome_is_refused_and_changes_nothing(client, outcomes_app, outcome, code):
    config = begin(client, PROLIFIC)
    answer = finish(client, config, outcome=outcome)
    assert answer.status_code == 400 and answer.get_json()["error"] == code
    if code == "unknown_outcome":
        assert answer.get_json()["known"] == ["completed", "screened_out", "failed_attention"]
        assert len(answer.get_json()["message"]) < 300
    assert the_run(outcomes_app).status == RunStatus.IN_PROGRESS
    assert finish(client, config, outcome="failed_attention").status_code == 200
    assert the_run(outcomes_app).completion_code == "ATTN0001"


def test_the_first_finish_wins(client, outcomes_app):
    config = begin(client, PROLIFIC)
    assert finish(client, config, outcome="failed_attention").status_code == 200
    again = finish(client, config, outcome="screened_out")
    assert again.status_code == 409 and again.get_json()["error"] == "already_completed"
    assert again.get_json()["outcome"] == "failed_attention"
    assert again.get_json()["completion_code"] == "ATTN0001"
    run = the_run(outcomes_app)
    assert (run.outcome, run.completion_code) == ("failed_attention", "ATTN0001")
    assert "cc=ATTN0001" in client.get(config["done_url"]).get_data(as_text=True)


def test_mturk_participants_submit_the_hit_with_the_outcome_in_the_answer(client,
                                                                        outcomes_app):
    config = begin(client, MTURK)
    assert finish(client, config, outcome="screened_out").status_code == 200
    run = the_run(outcomes_app)
    assert run.outcome == "screened_out" and run.completion_code != "SCREEN99"
    done = client.get(config["done_url"]).get_data(as_text=True)
    assert 'name="outcome" value="screened_out"' in done
    assert f'name="completionCode" value="{run.completion_code}"' in done
    assert "mturk/externalSubmit" in done and "prolific" not in done.lower()


def test_link_participants_see_their_code_whatever_the_outcome(client, outcomes_app):
    config = begin(client, {"participant": "LAB0001"})
    assert finish(client, config, outcome="screened_out").status_code == 200
    done = client.get(config["done_url"]).get_data(as_text=True)
    run = the_run(outcomes_app)
    assert run.completion_code in done and "SCREEN99" not in done
    assert "HIT" not in done and "Prolific" not in done


@pytest.mark.parametrize("args", [PROLIFIC, MTURK, {"participant": "LAB0002"}])
def test_top_level_max_bonus_holds_on_every_platform(client, outcomes_app, args):
    config = begin(client, args)
    too_much = client.post("/api/bonus", json={"token": config["token"], "amount": "0.41",
                                               "reason": "fast"})
    assert too_much.status_code == 400 and too_much.get_json()["max_bonus"] == "0.40"
    ok = client.post("/api/bonus", json={"token": config["token"], "amount": "0.40",
                                         "reason": "fast"})
    assert ok.status_code == 200 and the_run(outcomes_app).bonus_cents == 40


# ------------------------------------------------------------------------------- wording

PLATFORM_WORDS = [
    (PROLIFIC, "return the study on Prolific", ("HIT",)),
    (MTURK, "return the HIT", ("Prolific",)),
    ({"participant": "LAB0003"}, "close this page", ("HIT", "Prolific")),
]


@pytest.mark.parametrize(("args", "words", "never"), PLATFORM_WORDS)
def test_a_refused_device_is_told_in_its_platforms_words(client, args, words, never):
    page = client.get("/exp/outcomes", query_string=args, headers=PHONE)
    text = page.get_data(as_text=True)
    assert page.status_code == 403 and words in text
    assert not any(word in text for word in never)


@pytest.mark.parametrize(("args", "words", "never"), PLATFORM_WORDS)
def test_declining_is_answered_in_the_platforms_words(client, args, words, never):
    page = client.get("/exp/outcomes", query_string=args, headers=DESKTOP,
                      follow_redirects=True)
    token = page.data.split(b'name="token" value="')[1].split(b'"')[0].decode()
    page = client.post("/exp/outcomes/consent", data={"token": token, "decision": "decline"},
                       follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "You chose not to take part" in text and words in text
    assert not any(word in text for word in never)


@pytest.mark.parametrize(("args", "words", "never"), PLATFORM_WORDS)
def test_a_full_study_is_announced_in_the_platforms_words(client, outcomes_app, args, words,
                                                          never):
    outcomes_app.config["ABANDON_AFTER_MINUTES"] = 1000
    for n in range(5):  # the condition's quota of 5, all in progress
        client.get("/exp/outcomes", query_string={"participant": f"FILL{n}"}, headers=DESKTOP)
    page = client.get("/exp/outcomes", query_string=args, headers=DESKTOP)
    text = page.get_data(as_text=True)
    assert page.status_code == 409 and words in text
    assert not any(word in text for word in never)


@pytest.mark.parametrize(("args", "words", "never"), PLATFORM_WORDS)
def test_the_consent_page_gives_the_screen_check_its_platforms_words(client, args, words,
                                                                     never):
    page = client.get("/exp/outcomes", query_string=args, headers=DESKTOP,
                      follow_redirects=True)
    text = page.get_data(as_text=True)
    # screen-check.js (which replaces the page on a small screen) says what it is given.
    assert page.status_code == 200 and "screen-check.js" in text
    assert f'data-give-back="{words}' in text
    assert not any(word in text for word in never)


def test_the_examples_consent_does_not_promise_payment_to_everyone():
    from experiment_host import PROJECT_ROOT

    for slug in ("stroop", "jspsych-rt"):
        experiment = load_experiment(PROJECT_ROOT / "experiments" / slug)
        text = experiment.config.consent.text  # type: ignore[union-attr]
        assert "used only to pay you" not in text and "worker ID" not in text
        codes = experiment.config.prolific.completion_codes
        assert {c.outcome for c in codes} >= {"completed"} and len(codes) >= 2


def test_runs_csv_shows_outcome_and_the_code_taken_back(client, outcomes_app):
    config = begin(client, PROLIFIC)
    finish(client, config, outcome="screened_out")
    with outcomes_app.app_context():
        from experiment_host.researcher.export import ExportOptions
        from experiment_host.researcher.filters import parse_filter
        from experiment_host.researcher.streaming import export_chunks

        def export(**args: list[str]) -> list[dict[str, str]]:
            chunks = export_chunks(db.engine, "runs.csv", "outcomes",
                                   parse_filter(lambda name: args.get(name, [])),
                                   ExportOptions(pseudonym_key=b"k"))
            return list(csv.DictReader(io.StringIO("".join(t for _, t in chunks))))

        (row,) = export()
        completed_only = export(preset=["completed"])
    assert (row["outcome"], row["completion_code"]) == ("screened_out", "SCREEN99")
    assert completed_only == []
