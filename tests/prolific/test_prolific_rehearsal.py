"""Rehearsing on the local Prolific simulator: its arrivals are test runs (and only where the
host is not configured for live Prolific), their done page still hands them back to the
simulator, the simulator calls our hooks over HTTP when a submission changes status, and
``bonus-resolve`` reads both shapes of ``bonus_payments``."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from experiment_host.conditions import condition_counts
from experiment_host.extensions import db
from experiment_host.models import RunStatus, utcnow
from experiment_host.pilots import is_rehearsal_study
from experiment_host.prolific.bonuses import paid_amounts
from experiment_host.prolific.models import BonusState, ProlificBonus
from experiment_host.simulator import serve_in_thread
from tests.conftest import run_by_id
from tests.helpers import HANG_SECONDS
from tests.prolific.conftest import faults, sim_call


def is_test(app, run_id: int) -> bool:
    return run_by_id(app, run_id).is_test


def held_places(app) -> int:
    with app.app_context():
        return sum(condition_counts("survey", utcnow() - timedelta(hours=1)).values())


def test_simulator_arrivals_are_test_runs_only_off_live(app, created_study, hand_made_study,
                                                        take):
    rehearsal = take(created_study(), complete=False, come_back=False)
    by_hand = take(hand_made_study(), complete=False, come_back=False)
    assert is_test(app, rehearsal.run_id) and not is_test(app, by_hand.run_id)
    assert held_places(app) == 1  # the test run holds no quota place
    # On a host configured for live Prolific no STUDY_ID makes a test run, even one of ours.
    study_id = run_by_id(app, rehearsal.run_id).study_key
    with app.app_context():
        assert is_rehearsal_study(study_id)
    app.config["PROLIFIC_API_URL"] = "https://api.prolific.com/api/v1"
    with app.app_context():
        assert not is_rehearsal_study(study_id)


def test_a_rehearsal_run_is_still_handed_back_to_the_simulator(app, client, created_study,
                                                                 take):
    took = take(created_study(), come_back=False)
    assert is_test(app, took.run_id)
    done = client.get("/exp/survey/done", query_string={"token": took.token})
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and 'id="test-run-done"' not in text
    assert f"{app.config['PROLIFIC_COMPLETE_URL']}?cc=SURVEYDONE" in text


@pytest.fixture
def served(app):
    """Our app on a real port, as Prolific's hooks reach it; PUBLIC_URL names it."""
    running = serve_in_thread(app, "127.0.0.1", 0)
    app.config["PUBLIC_URL"] = running.url
    yield running
    running.stop()


def wait_for_status(app, run_id: int, status: RunStatus) -> None:
    deadline = time.monotonic() + HANG_SECONDS
    while run_by_id(app, run_id).status != status:
        assert time.monotonic() < deadline, f"run {run_id} is {run_by_id(app, run_id).status}"
        time.sleep(0.05)


def deliveries(sim, count: int) -> list[dict]:
    """The simulator's hook deliveries, once ``count`` of them are recorded."""
    deadline = time.monotonic() + HANG_SECONDS
    while len(sim.deliveries) < count:
        assert time.monotonic() < deadline, sim.deliveries
        time.sleep(0.05)
    return sim.deliveries


def test_returning_in_the_simulator_frees_the_place_through_the_hook(
        app, sim, simulator, served, prolific, take, hand_made_study):
    subscribed = prolific("subscribe", "--yes")
    assert subscribed.exit_code == 0, subscribed.output
    app.config["PROLIFIC_HOOK_SECRET"] = subscribed.output.split("PROLIFIC_HOOK_SECRET=")[1] \
        .split()[0]
    study_id = hand_made_study()
    leaving = take(study_id, complete=False, come_back=False)
    late = take(study_id, complete=False, come_back=False)
    assert held_places(app) == 2
    status, _, body = sim_call(f"{simulator.url}/prolific/studies/{study_id}/return", {},
                               cookie=leaving.cookie)
    assert status == 200 and "RETURNED" in body
    wait_for_status(app, leaving.run_id, RunStatus.RETURNED)  # no command was run
    assert held_places(app) == 1
    request = urllib.request.Request(
        f"{simulator.url}/prolific/_simulator/submissions/{late.submission_id}/time-out",
        data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    wait_for_status(app, late.run_id, RunStatus.ABANDONED)
    assert held_places(app) == 0
    assert [d["status"] for d in deliveries(sim, 2)] == [200, 200]
    assert {d["url"] for d in sim.deliveries} == {f"{served.url}/prolific/hooks"}


def test_hooks_follow_completion_and_approval(app, sim, served, prolific, take, created_study):
    subscribed = prolific("subscribe", "--yes")
    app.config["PROLIFIC_HOOK_SECRET"] = subscribed.output.split("PROLIFIC_HOOK_SECRET=")[1] \
        .split()[0]
    study_id = created_study()
    took = take(study_id)
    wait_for_status(app, took.run_id, RunStatus.SUBMITTED)  # AWAITING REVIEW, via the hook
    assert prolific("approve", study_id, "--yes").exit_code == 0
    assert [d["event"]["status"] for d in deliveries(sim, 2)] == ["AWAITING REVIEW",
                                                                    "APPROVED"]
    assert run_by_id(app, took.run_id).status == RunStatus.APPROVED


def test_a_wrong_secret_is_refused_and_changes_nothing(app, sim, simulator, served, prolific,
                                                        take, hand_made_study):
    assert prolific("subscribe", "--yes").exit_code == 0
    app.config["PROLIFIC_HOOK_SECRET"] = "not-the-one-prolific-signs-with"
    study_id = hand_made_study()
    leaving = take(study_id, complete=False, come_back=False)
    sim_call(f"{simulator.url}/prolific/studies/{study_id}/return", {}, cookie=leaving.cookie)
    assert deliveries(sim, 1)[0]["status"] == 401
    assert run_by_id(app, leaving.run_id).status == RunStatus.IN_PROGRESS


@pytest.mark.parametrize("value, amounts", [
    ([25, 40], [25, 40]),
    ([{"id": "b1", "amount": 25}, {"amount": 40.0}], [25, 40]),
    ([{"amount": "25"}, {"no": 1}, None, True, "x", 1.5], [25]),
    (None, []), ({"amount": 25}, []),
])
def test_paid_amounts_reads_both_shapes(value, amounts):
    assert paid_amounts(value) == amounts


@pytest.mark.parametrize("shape", ["integers", "objects"])
def test_bonus_resolve_reads_the_simulators_bonus_payments(shape, app, sim, simulator, prolific,
                                                           created_study, take):
    request = urllib.request.Request(
        f"{simulator.url}/prolific/_simulator/bonus-payments-shape",
        data=json.dumps({"shape": shape}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    study_id = created_study()
    took = take(study_id, bonus="0.25")
    assert prolific("approve", study_id, "--yes").exit_code == 0
    faults(simulator, lose_next=1, paths=["/pay/"])
    lost = prolific("bonus", study_id, "--yes")
    assert "unknown 1" in lost.output
    with urllib.request.urlopen(urllib.request.Request(
            f"{simulator.url}/prolific/api/v1/submissions/{took.submission_id}/",
            headers={"Authorization": "Token t"}), timeout=10) as answer:
        listed = json.loads(answer.read())
    assert listed["bonus_payments"] == ([25] if shape == "integers" else
                                        [{"id": "bonus-0", "amount": 25}])
    resolved = prolific("bonus-resolve", study_id)
    assert "Confirmed paid 1" in resolved.output, resolved.output
    with app.app_context():
        assert db.session.query(ProlificBonus).one().state == BonusState.PAID
    assert len(sim.payments) == 1


def test_the_simulator_refuses_a_bad_shape_and_an_unknown_time_out(simulator):
    for path, body in (("bonus-payments-shape", {"shape": "floats"}),
                       ("submissions/nope/time-out", {})):
        request = urllib.request.Request(f"{simulator.url}/prolific/_simulator/{path}",
                                         data=json.dumps(body).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
        assert error.value.code in (400, 404)
        error.value.close()



def test_the_simulators_published_studies_are_this_projects(app, sim, created_study, take,
                                                            client):
    """``flask simulator run`` publishes one study per experiment (its id the slug) and
    records it, so its arrivals are test runs and the review page and --all follow it."""
    from experiment_host.experiments import registry
    from experiment_host.prolific import internal_name, study_body
    from experiment_host.prolific.studies import record_simulator_studies, recorded

    api_url = app.config["PROLIFIC_API_URL"]
    earlier = created_study()  # a study of an earlier simulator at the same URL
    with app.app_context():
        body = study_body(registry()["survey"], app.config["PUBLIC_URL"],
                          internal_name("survey", 0))
        assert record_simulator_studies(api_url, {"survey": body}) == 1
        db.session.commit()
        assert [row.study_id for row in recorded(api_url)] == ["survey"]
    with sim.lock:
        sim.studies["survey"] = {**body, "id": "survey", "status": "ACTIVE"}
    took = take("survey", complete=False, come_back=False)
    assert is_test(app, took.run_id)
    with app.app_context():
        from experiment_host.researcher.accounts import add_researcher
        from tests.researcher.support import PASSWORD, log_in

        add_researcher("ada", PASSWORD, admin=True)
        db.session.commit()
    assert log_in(client).status_code == 303
    page = client.get("/researcher/experiments/survey/prolific").get_data(as_text=True)
    assert 'data-testid="submissions-survey"' in page and took.submission_id in page
    assert earlier not in page
