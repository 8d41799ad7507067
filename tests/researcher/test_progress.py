"""The dashboard's progress figures, on SQLite and PostgreSQL: completions binned by hour
while the study is young and by day after, the target, and trials counted by the
experiment's ``[dashboard] count_trials_where`` rule (checkpoints always left out)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from experiment_host.experiments import registry
from experiment_host.models import RunStatus
from experiment_host.record_keys import CHECKPOINT_TYPE, PROPERTIES_TYPE
from experiment_host.researcher import progress
from tests.researcher.support import T0

RESPONSE = {"trial_type": "html-keyboard-response", "task": "response"}
FIXATION = {"trial_type": "html-keyboard-response", "task": "fixation"}
CHECKPOINT = {"trial_type": CHECKPOINT_TYPE, "task": "response"}  # never a trial
PROPERTIES = {"trial_type": PROPERTIES_TYPE, "properties": {"task": "response"}}


@pytest.fixture
def completions(seed):
    """Completions at 0:10, 0:10, 2:30 and a day later; runs that must not count."""
    seed(minutes=10)
    seed(minutes=10, status=RunStatus.APPROVED)
    seed(minutes=150, status=RunStatus.REJECTED)  # completed the task, whatever came after
    seed(minutes=10, start=T0 + timedelta(days=1), status=RunStatus.SUBMITTED)
    seed(status=RunStatus.RETURNED)
    seed(status=RunStatus.IN_PROGRESS)
    seed(minutes=5, is_test=True)


def test_hourly_while_young(app, completions):
    with app.app_context():
        result = progress.cumulative_completions("basic", T0 + timedelta(hours=4, minutes=5))
    assert result.hourly
    assert [(when - T0, total) for when, total in result.bins] == [
        (timedelta(hours=0), 2), (timedelta(hours=1), 2), (timedelta(hours=2), 3),
        (timedelta(hours=3), 3), (timedelta(hours=4), 4)]  # tomorrow's run: in the last bin


def test_daily_after_the_first_72_hours(app, completions):
    with app.app_context():
        result = progress.cumulative_completions("basic", T0 + timedelta(hours=72))
    assert not result.hourly
    day = T0.replace(hour=0)
    assert result.bins == [(day, 3), (day + timedelta(days=1), 4), (day + timedelta(days=2), 4),
                           (day + timedelta(days=3), 4)]


def test_no_runs_no_bins(app):
    with app.app_context():
        assert progress.cumulative_completions("basic", T0).bins == []


def test_target_is_the_config_or_the_sum_of_quotas(app):
    with app.app_context():
        experiments = registry()
        assert progress.completion_target(experiments["basic"]) == 6  # quotas 3 + 3
        assert progress.completion_target(experiments["balanced"]) == 4  # [dashboard] target
        assert progress.completion_target(experiments["open"]) is None  # no quotas
        assert progress.completion_target(None) is None


@pytest.fixture
def trials(seed):
    """Four runs of 'balanced' whose records mix responses, fixations and bookkeeping."""
    seed(slug="balanced", condition="one", data=[
        PROPERTIES, FIXATION, RESPONSE, CHECKPOINT, FIXATION, RESPONSE, RESPONSE])
    seed(slug="balanced", condition="one", data=[FIXATION, RESPONSE, CHECKPOINT, FIXATION],
         status=RunStatus.RETURNED)
    seed(slug="balanced", condition="two", data=[FIXATION, CHECKPOINT],
         status=RunStatus.ABANDONED)
    seed(slug="balanced", condition="two", data=[{"rt": 1}, {"task": "response", "rt": 2},
                                                 {"nested": {"kind": "main"}}])
    seed(slug="balanced", condition="two", data=[RESPONSE], is_test=True)


def test_trials_counted_by_the_rule(app, trials):
    with app.app_context():
        reached, stopped = progress.trial_progress("balanced", {"task": ("response",)})
    # runs with 3, 1 and 1 responses (the abandoned one has none, the test run is left out)
    assert reached == [(1, 3), (3, 1)]
    assert stopped == [(1, 1)]


def test_several_values_keys_and_nested_keys(app, trials):
    with app.app_context():
        by_two = progress.trial_progress("balanced", {"task": ("response", "fixation"),
                                                      "trial_type": ("html-keyboard-response",)})
        nested = progress.trial_progress("balanced", {"nested.kind": ("main",)})
        nothing = progress.trial_progress("balanced", {"task": ("'; drop table runs; --",)})
    assert by_two[0] == [(1, 3), (3, 2), (5, 1)]  # 5, 3 and 1 of the two tasks; checkpoints out
    assert nested[0] == [(1, 1)]
    assert nothing == ([], [])


def test_checkpoints_left_out_even_without_a_rule_key_on_them(app, trials):
    with app.app_context():
        reached, _ = progress.trial_progress("balanced", {"trial_type": (CHECKPOINT_TYPE,
                                                                         PROPERTIES_TYPE)})
    assert reached == []


def test_without_a_rule_every_record_counts(app, trials):
    with app.app_context():
        reached, stopped = progress.trial_progress("balanced", None)
    assert reached == [(2, 4), (3, 3), (4, 2), (7, 1)]
    assert stopped == [(2, 1), (4, 1)]


def test_page_counts_with_the_rule(logged_in, trials):
    html = logged_in.get("/researcher/experiments/balanced").get_data(as_text=True)
    assert "Runs that reached each trial" in html and "<code>task</code> is response" in html
    assert "3 runs reached trial 1 and 1 reached trial 3" in html
    assert "target 4" in html and "2 runs reached completion" in html  # the test run is out


def test_rule_keys_found_through_the_column_registry(app, seed):
    seed(slug="open", condition="x", data=[{"task": "response"}, {"task": "response"},
                                           {"task": "other"}])  # no bookkeeping records
    seed(slug="open", condition="y", data=[{"task": "response", "condition": "kept"}])
    with app.app_context():
        assert progress.trial_progress("open", {"task": ("response",)})[0] == [(1, 2), (2, 1)]
        # registered under the record's key (trials.csv calls that column data.condition)
        assert progress.trial_progress("open", {"condition": ("kept",)})[0] == [(1, 1)]
        assert progress.trial_progress("open", {"absent": ("x",)}) == ([], [])


def test_keys_that_overflowed_still_count(app, seed):
    app.config["EXPORT_MAX_COLUMNS"] = 2  # later keys get no column of their own
    seed(slug="open", condition="x", data=[{"a": 1, "b": 2}, {"late": "yes"}, {"late": "yes"}])
    with app.app_context():
        assert progress.trial_progress("open", {"late": ("yes",)})[0] == [(2, 1)]


def test_records_holding_nul_characters_still_count(app, logged_in, seed):
    # PostgreSQL's JSON operators fail on a document holding "\u0000" anywhere: one
    # participant's record must not take the dashboard down for the whole experiment.
    nul = {"task": "response", "typed": "a\u0000b", "nested": {"x": ["\u0000"]}}
    seed(slug="balanced", condition="one", data=[nul, CHECKPOINT, RESPONSE, PROPERTIES])
    with app.app_context():
        assert progress.trial_progress("balanced", {"task": ("response",)})[0] == [(2, 1)]
        assert progress.trial_progress("balanced", {"nested.x": ("y",)}) == ([], [])
    page = logged_in.get("/researcher/experiments/balanced")
    assert page.status_code == 200
    assert "1 reached trial 2, the last trial any run reached" in page.get_data(as_text=True)
