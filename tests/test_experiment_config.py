"""Experiment discovery: good folders load, broken ones fail naming the file and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiment_host import PROJECT_ROOT, create_app
from experiment_host.experiments import ExperimentConfigError, discover, load_experiment

MINIMAL = 'title = "T"\ndescription = "D"\nduration_minutes = 1\n'


def make_experiment(root: Path, toml: str, slug: str = "exp", task: bool = True) -> Path:
    folder = root / slug
    folder.mkdir(parents=True)
    (folder / "experiment.toml").write_text(toml)
    if task:
        (folder / "task.html").write_text("<html><head></head><body></body></html>")
    return folder


def test_shipped_examples_load():
    found = discover(PROJECT_ROOT / "experiments")
    assert {"stroop", "jspsych-rt"} <= set(found)
    stroop = found["stroop"]
    assert stroop.config.hit.reward and stroop.config.consent is not None
    assert len(stroop.condition_names()) == 2
    # both examples count only their own trials on the dashboard (no fixations, no debrief)
    assert stroop.config.dashboard.count_trials_where == {
        "block_type": ("mostly-congruent", "mostly-incongruent")}
    assert found["jspsych-rt"].config.dashboard.count_trials_where == {"task": ("response",)}


def test_count_trials_where_takes_keys_and_lists_of_values(tmp_path):
    toml = MINIMAL + ('[dashboard]\ntarget = 40\ncount_trials_where = { trial_type = '
                      '["html-keyboard-response", "survey-likert"], "stim.kind" = ["main"] }\n')
    config = load_experiment(make_experiment(tmp_path, toml)).config.dashboard
    assert config.count_trials_where == {
        "trial_type": ("html-keyboard-response", "survey-likert"), "stim.kind": ("main",)}
    assert config.target == 40
    assert load_experiment(make_experiment(tmp_path, MINIMAL, "plain")).config.dashboard \
        .count_trials_where is None


def test_defaults_for_a_minimal_config(tmp_path):
    experiment = load_experiment(make_experiment(tmp_path, MINIMAL))
    assert experiment.condition_names() == ["default"]
    assert experiment.config.allow_repeat is False
    assert experiment.config.hit.reward == "0.50"
    assert experiment.config.min_records == 1


@pytest.mark.parametrize(("toml", "problem"), [
    ("title = ", "cannot read TOML"),
    ('description = "D"\nduration_minutes = 1\n', "title"),
    (MINIMAL + 'colour = "red"\n', "colour"),
    (MINIMAL + '[hit]\nreward = "1.234"\n', "hit.reward"),
    (MINIMAL + '[hit]\nreward = "-1"\n', "hit.reward"),
    (MINIMAL + '[[conditions]]\nname = "a"\n[[conditions]]\nname = "a"\n', "distinct"),
    (MINIMAL + '[[conditions]]\nname = "a"\nquota = -2\n', "conditions.0.quota"),
    (MINIMAL + 'task = "missing.html"\n', "missing.html"),
    (MINIMAL + 'task = "../../etc/passwd"\n', "leaves the folder"),
    (MINIMAL + '[consent]\ntext = "x"\npage = "c.html"\n', "exactly one"),
    (MINIMAL + '[screening]\nmin_screen_width = 800\n', "add a [consent] section"),
    (MINIMAL + 'min_records = 0\n', "min_records"),
    ('title = "T"\ndescription = "D"\nduration_minutes = "long"\n', "duration_minutes"),
    (MINIMAL + '[dashboard]\ncount_trials_where = { task = "response" }\n',
     'dashboard.count_trials_where: task must be a list of values, e.g. task = ["response"]'),
    (MINIMAL + '[dashboard]\ncount_trials_where = { task = [] }\n',
     "task must be a list of 1 to 100 non-empty strings"),
    (MINIMAL + '[dashboard]\ncount_trials_where = { task = [1, 2] }\n',
     "task must be a list of 1 to 100 non-empty strings"),
    (MINIMAL + '[dashboard]\ncount_trials_where = { task = [""] }\n', "non-empty strings"),
    (MINIMAL + '[dashboard]\ncount_trials_where = {}\n',
     "must be a table of record keys and lists of values"),
    (MINIMAL + '[dashboard]\ncount_trials_where = ["response"]\n',
     "must be a table of record keys and lists of values"),
    (MINIMAL + '[dashboard]\ncount_trials_where = { "a b" = ["x"] }\n',
     "'a b' is not a record key"),
    (MINIMAL + '[dashboard]\ncount_trials_where = { "a..b" = ["x"] }\n', "not a record key"),
    (MINIMAL + '[dashboard]\ntarget = 0\n', "dashboard.target"),
    (MINIMAL + '[dashboard]\ncount_trials = { task = ["x"] }\n', "dashboard.count_trials"),
])
def test_broken_config_names_file_and_problem(tmp_path, toml, problem):
    folder = make_experiment(tmp_path, toml)
    with pytest.raises(ExperimentConfigError) as error:
        load_experiment(folder)
    message = str(error.value)
    assert str(folder) in message and problem in message


def test_bad_folder_name(tmp_path):
    folder = make_experiment(tmp_path, MINIMAL, slug="Has Spaces")
    with pytest.raises(ExperimentConfigError, match="slug"):
        load_experiment(folder)


def test_app_refuses_to_start_with_a_broken_experiment(tmp_path):
    make_experiment(tmp_path, MINIMAL + "[hit]\nassignments = 0\n")
    with pytest.raises(ExperimentConfigError, match=r"hit\.assignments"):
        create_app({"EXPERIMENTS_DIR": str(tmp_path), "SECRET_KEY": "x",
                    "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})


def test_production_needs_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"})


def test_local_secret_key_is_generated_once(tmp_path, monkeypatch):
    from experiment_host.config import secret_key

    first = secret_key("", "development", str(tmp_path))
    assert len(first) == 64 and secret_key("", "development", str(tmp_path)) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_overrides(monkeypatch):
    from experiment_host.config import environment_overrides

    found = environment_overrides({"MTURK_SUBMIT_ORIGINS": "https://a.example, https://b.example",
                                   "MAX_CONTENT_LENGTH": "2048", "PUBLIC_URL": "https://x"})
    assert found == {"MTURK_SUBMIT_ORIGINS": ("https://a.example", "https://b.example"),
                     "MAX_CONTENT_LENGTH": 2048, "PUBLIC_URL": "https://x"}
    with pytest.raises(RuntimeError, match="MAX_CONTENT_LENGTH"):
        environment_overrides({"MAX_CONTENT_LENGTH": "lots"})


def test_environment_values_take_their_defaults_types():
    from experiment_host.config import environment_overrides

    found = environment_overrides({"COMPRESS_STREAMS": "yes", "MTURK_SANDBOX": "Off",
                                   "RUNS_PER_PAGE": "20", "COMPRESS_ALGORITHM": "gzip",
                                   "SESSION_COOKIE_SECURE": "true"})
    assert found == {"COMPRESS_STREAMS": True, "MTURK_SANDBOX": False, "RUNS_PER_PAGE": 20,
                     "COMPRESS_ALGORITHM": ("gzip",), "SESSION_COOKIE_SECURE": "true"}
    for name in ("COMPRESS_STREAMS", "MTURK_SANDBOX"):
        with pytest.raises(RuntimeError, match=name):
            environment_overrides({name: "maybe"})


@pytest.mark.parametrize(("configured", "public_url", "secure"), [
    (None, "https://lab.example", True), (None, "http://127.0.0.1:5000", False),
    ("off", "https://lab.example", False), ("1", "http://127.0.0.1:5000", True),
    (False, "https://lab.example", False), (True, "http://127.0.0.1:5000", True),
])
def test_cookie_secure_follows_public_url_unless_set(configured, public_url, secure):
    from experiment_host.config import cookie_secure

    assert cookie_secure(configured, public_url) is secure


def test_cookie_secure_refuses_a_word_that_is_not_a_boolean():
    from experiment_host.config import cookie_secure

    with pytest.raises(RuntimeError, match="SESSION_COOKIE_SECURE"):
        cookie_secure("sometimes", "https://lab.example")


def test_database_url_forms():
    from experiment_host.config import database_uri

    assert database_uri("", "/inst") == "sqlite:////inst/experiment_host.sqlite3"
    assert database_uri("postgres://u@h/d", "/i") == "postgresql+psycopg://u@h/d"
    assert database_uri("postgresql://u@h/d", "/i") == "postgresql+psycopg://u@h/d"
