"""``flask hits create``: plan, fee tiers, batches, confirmation, the live guard, idempotency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from experiment_host.mturk.gateway import target_from_config
from experiment_host.mturk.question import QuestionError, experiment_url, external_question
from tests.mturk.conftest import PUBLIC_URL


def test_create_shows_plan_asks_and_posts(hits, sim, app):
    result = hits("create", "basic", "--assignments", "5", input="y\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "sandbox" in out and "LIVE" not in out
    assert "$0.75 per assignment" in out
    assert "Amazon's fee: 20% = $0.75" in out
    assert "Total cost:   $4.50" in out
    assert "Balance:      $10000.00" in out
    assert "Create 1 HIT(s) for $4.50?" in out
    [hit] = sim.hits.values()
    assert hit.external_url == f"{PUBLIC_URL}/exp/basic"
    assert hit.max_assignments == 5 and hit.reward == "0.75"
    assert f"Created HIT {hit.hit_id}" in out
    assert f"/hits/{hit.hit_id}" in out  # preview link on the simulator's worker site
    assert sim.balance == Decimal("10000.00") - Decimal("4.50")


def test_declining_creates_nothing(hits, sim):
    result = hits("create", "basic", input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert not sim.hits


def test_dry_run_only_plans(hits, sim):
    result = hits("create", "basic", "--dry-run")
    assert result.exit_code == 0 and "Total cost" in result.output
    assert not sim.hits


def test_forty_percent_tier_warns_and_batches_split(hits, sim):
    plan = hits("create", "basic", "--assignments", "12", "--dry-run")
    assert "Amazon's fee: 40% = $3.60" in plan.output
    assert "Warning" in plan.output and "--batches" in plan.output and "$1.80" in plan.output
    result = hits("create", "basic", "--assignments", "12", "--batches", "--yes")
    assert result.exit_code == 0, result.output
    assert "12 in 2 HIT(s) (6 + 6)" in result.output
    assert sorted(h.max_assignments for h in sim.hits.values()) == [6, 6]
    for hit in sim.hits.values():  # repeat workers are excluded between the batches
        [requirement] = hit.qualification_requirements
        assert requirement["Comparator"] == "DoesNotExist"
        assert requirement["ActionsGuarded"] == "DiscoverPreviewAndAccept"


def test_rerun_never_creates_twice(hits, sim):
    assert hits("create", "basic", "--yes").exit_code == 0
    again = hits("create", "basic", "--yes")
    assert again.exit_code == 0
    assert "already exists" in again.output
    assert len(sim.hits) == 1
    third = hits("create", "basic", "--yes", "--round", "2")
    assert third.exit_code == 0 and len(sim.hits) == 2


def test_lost_create_response_is_found_by_its_token(hits, sim):
    sim.faults.lose_next = 1  # MTurk makes the HIT, the answer is lost, boto3 retries
    sim.faults.operations = frozenset({"CreateHIT"})
    result = hits("create", "basic", "--yes")
    assert result.exit_code == 0, result.output
    assert "Already created (found by its request token)" in result.output
    assert len(sim.hits) == 1


def test_overrides_reach_mturk(hits, sim):
    result = hits("create", "basic", "--yes", "--reward", "1.10", "--assignments", "2",
                  "--lifetime", "2", "--duration", "15", "--auto-approve", "1",
                  "--title", "Quick study", "--keywords", "psychology, survey")
    assert result.exit_code == 0, result.output
    [hit] = sim.hits.values()
    assert (hit.reward, hit.max_assignments, hit.title) == ("1.10", 2, "Quick study")
    assert hit.assignment_duration_seconds == 900 and hit.auto_approval_delay_seconds == 3600
    assert hit.keywords == "psychology, survey"


def test_bad_reward_is_a_usage_error(hits, sim):
    result = hits("create", "basic", "--reward", "0.505", "--yes")
    assert result.exit_code == 2 and "not a dollar amount" in result.output


def test_http_public_url_off_this_machine_is_refused_even_by_the_simulator(hits, sim, app):
    app.config["PUBLIC_URL"] = "http://experiments.example.org"
    result = hits("create", "basic", "--yes")
    assert result.exit_code == 1
    assert "only frames https pages" in result.output and "Traceback" not in result.output
    assert not sim.hits


def test_http_public_url_on_loopback_is_taken_by_the_local_simulator(hits, sim, app):
    app.config["PUBLIC_URL"] = "http://127.0.0.1:5000"
    result = hits("create", "basic", "--yes")
    assert result.exit_code == 0, result.output
    [hit] = sim.hits.values()
    assert hit.external_url == "http://127.0.0.1:5000/exp/basic"
    assert f"Worker preview: {app.config['MTURK_ENDPOINT_URL']}/hits/{hit.hit_id}" in result.output


@pytest.mark.parametrize(("endpoint", "live"), [
    ("", False),                                   # the real sandbox
    ("", True),                                    # live MTurk
    ("https://mturk-proxy.example.org", False),    # a custom endpoint elsewhere
    ("http://127.0.0.1:5001", True),               # a local endpoint, but --live
])
def test_http_public_url_is_refused_by_anything_but_a_local_simulator(endpoint, live):
    target = target_from_config({"MTURK_ENDPOINT_URL": endpoint}, live)
    assert not target.local
    with pytest.raises(QuestionError, match="only frames https pages"):
        experiment_url("http://127.0.0.1:5000", "basic", target.local)
    assert experiment_url("https://e.org/", "basic", target.local) == "https://e.org/exp/basic"


@pytest.mark.parametrize("endpoint", ["http://localhost:5001/", "http://127.0.0.2:9",
                                      "http://[::1]:5001"])
def test_a_loopback_endpoint_is_a_local_simulator(endpoint):
    target = target_from_config({"MTURK_ENDPOINT_URL": endpoint}, False)
    assert target.local and not target.endpoint.endswith("/")
    assert external_question("http://localhost:5000/exp/x", 0, target.local)


def test_unknown_experiment(hits):
    result = hits("create", "nope", "--yes")
    assert result.exit_code == 1 and "There is no experiment 'nope' (experiments: " in result.output


def test_insufficient_balance_is_refused_before_posting(hits, sim):
    sim.balance = Decimal("1.00")
    result = hits("create", "basic", "--yes")
    assert result.exit_code == 1
    assert "does not cover" in result.output and not sim.hits


def test_live_needs_sandbox_off_and_asks_again(hits, sim, app):
    refused = hits("create", "basic", "--yes", "--live")
    assert refused.exit_code == 1 and "MTURK_SANDBOX=false" in refused.output
    app.config["MTURK_SANDBOX"] = False
    declined = hits("create", "basic", "--yes", "--live", input="n\n")
    assert "LIVE (real money)" in declined.output and "Really go ahead?" in declined.output
    assert declined.exit_code == 1 and not sim.hits
    accepted = hits("create", "basic", "--live", input="y\ny\n")
    assert accepted.exit_code == 0, accepted.output
    assert len(sim.hits) == 1


def test_no_credentials_is_a_clear_message(hits, app, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    app.config["MTURK_ENDPOINT_URL"] = "https://mturk-requester.invalid"  # not this machine
    result = hits("balance")
    assert result.exit_code == 1
    assert "No AWS credentials found" in result.output and "Traceback" not in result.output


def test_the_local_simulator_needs_no_credentials(hits, sim, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    sim.balance = Decimal("7.00")
    result = hits("balance")
    assert result.exit_code == 0 and "$7.00" in result.output, result.output


def test_balance(hits, sim):
    sim.balance = Decimal("12.34")
    result = hits("balance")
    assert result.exit_code == 0 and "$12.34" in result.output
