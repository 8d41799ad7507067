"""The Prolific simulator checks requests against Prolific's documented shapes and answers
with Prolific's error shape; our client turns each answer into one sentence and retries
what is safe to retry, honouring Retry-After."""

from __future__ import annotations

import time

import pytest

from experiment_host.prolific import ProlificClient, Settings
from experiment_host.prolific.client import NotFound, Refused, Throttled
from tests.prolific.conftest import faults, sim_call


@pytest.fixture
def client(simulator):  # a Prolific client here, not Flask's test client
    return ProlificClient(Settings(url=f"{simulator.url}/prolific/api/v1", token="t",
                                   max_attempts=3, backoff_seconds=0.001))


def test_error_shape_and_field_validation(client):
    with pytest.raises(Refused) as caught:
        client.post("studies/", {"name": "x", "reward": "60"}, what="creating the study")
    detail = caught.value.detail
    assert "reward: Expected int." in detail and "external_study_url: This field is required" \
        in detail
    with pytest.raises(Refused, match="completion_codes"):
        client.post("studies/", {
            "name": "n", "description": "d", "external_study_url": "u",
            "prolific_id_option": "url_parameters", "completion_codes": [{"code": "C"}],
            "total_available_places": 1, "estimated_completion_time": 1, "reward": 10},
            what="creating the study")


def test_unknown_ids_and_missing_token(client, simulator):
    with pytest.raises(NotFound, match="404"):
        client.get("studies/nope/", what="reading study nope")
    status, _, body = sim_call(f"{simulator.url}/prolific/api/v1/users/me/")
    assert status == 401 and '"error"' in body and '"title"' in body


def test_throttling_honours_retry_after_and_gives_up_plainly(client, simulator):
    faults(simulator, throttle_next=1, retry_after=1)
    started = time.monotonic()
    assert client.get("users/me/", what="reading your account")["currency_code"] == "GBP"
    assert time.monotonic() - started >= 0.9
    faults(simulator, throttle_next=5, retry_after=0)
    with pytest.raises(Throttled, match="wait a minute"):
        client.get("users/me/", what="reading your account")


def test_unsafe_calls_are_not_repeated_after_a_server_error(client, simulator, sim):
    sim.studies["s"] = {"id": "s", "status": "ACTIVE", "reward": 10,
                        "total_available_places": 1}
    faults(simulator, fail_next=1)
    with pytest.raises(Exception) as caught:
        client.post("messages/bulk/", {"ids": ["p"], "body": "hi", "study_id": "s"},
                    what="messaging", safe=False)
    assert caught.value.maybe_applied and sim.messages == []
    assert sim.calls["POST /prolific/api/v1/messages/bulk/"] == 1


def test_participant_side_lists_published_studies_only(simulator, sim):
    sim.studies["a"] = {"id": "a", "status": "ACTIVE", "name": "Visible", "description": "",
                        "reward": 50, "estimated_completion_time": 2,
                        "total_available_places": 1, "external_study_url": "https://x/?p="
                        "{{%PROLIFIC_PID%}}&s={{%STUDY_ID%}}&i={{%SESSION_ID%}}"}
    sim.studies["b"] = {**sim.studies["a"], "id": "b", "status": "UNPUBLISHED", "name": "Draft"}
    _, _, page = sim_call(f"{simulator.url}/prolific/")
    assert "Visible" in page and "Draft" not in page
    status, headers, _ = sim_call(f"{simulator.url}/prolific/studies/a/start",
                                  {"participant_id": "p1"})
    [submission] = sim.submissions.values()
    assert status == 303 and headers["Location"] == f"https://x/?p=p1&s=a&i={submission.id}"
    full, _, _ = sim_call(f"{simulator.url}/prolific/studies/a/start", {"participant_id": "p2"})
    assert full == 409
    wrong, _, _ = sim_call(f"{simulator.url}/prolific/submissions/complete?cc=NOPE",
                           cookie="sim_prolific_pid=p1")
    assert wrong == 400 and submission.status == "ACTIVE"
