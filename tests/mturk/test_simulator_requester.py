"""The simulator's requester API speaks MTurk's protocol and validates like the service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from experiment_host.simulator.validation import operation, validation_errors


def raw_call(url: str, target: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/", data=json.dumps(body).encode(), headers={
        "X-Amz-Target": f"MTurkRequesterServiceV20170117.{target}",
        "Content-Type": "application/x-amz-json-1.1"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def client(simulator):
    return boto3.session.Session().client(
        "mturk", region_name="us-east-1", endpoint_url=simulator.url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def test_validation_covers_what_botocore_skips():
    op = operation("CreateHIT")
    errors = validation_errors(op, {
        "Title": "t", "Description": "d", "Reward": "0.505", "LifetimeInSeconds": "60",
        "AssignmentDurationInSeconds": 60, "UniqueRequestToken": "x" * 65,
        "QualificationRequirements": [{"QualificationTypeId": "1", "Comparator": "Maybe"}]})
    text = " | ".join(errors)
    assert "at 'reward' failed to satisfy constraint: Member must satisfy regular expression" \
        in text
    assert "'lifetimeInSeconds' failed to satisfy constraint: Member must be an integer" in text
    assert "'uniqueRequestToken' failed to satisfy constraint: Member must have length less " \
        "than or equal to 64" in text
    assert "'qualificationRequirements.1.member.comparator'" in text and "enum value set" in text
    assert validation_errors(operation("ListHITs"), {"MaxResults": 101}) == [
        "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less "
        "than or equal to 100"]


def test_raw_protocol_errors(simulator):
    status, body = raw_call(simulator.url, "CreateHIT", {"Title": "t"})
    assert status == 400 and body["__type"] == "ValidationException"
    assert "Value null at 'description' failed to satisfy constraint" in body["Message"]
    status, body = raw_call(simulator.url, "GetHIT", {"HITId": "NOPE"})
    assert (status, body["__type"], body["TurkErrorCode"]) == (
        400, "RequestError", "AWS.MechanicalTurk.HITDoesNotExist")
    status, body = raw_call(simulator.url, "NoSuchOperation", {})
    assert status == 400 and body["__type"] == "UnknownOperationException"


def test_boto3_sees_mturk_error_shapes(client, simulator, sim):
    with pytest.raises(client.exceptions.RequestError) as missing:
        client.get_hit(HITId="NOPE")
    assert missing.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    sim.faults.throttle_next = 1
    with pytest.raises(ClientError) as throttled:
        client.get_account_balance()
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    sim.faults.fail_next = 1
    with pytest.raises(client.exceptions.ServiceFault):
        client.get_account_balance()
    assert client.get_account_balance()["AvailableBalance"] == "10000.00"


def test_fault_control_endpoint(simulator, sim):
    request = urllib.request.Request(simulator.url + "/_simulator/faults",
                                     data=json.dumps({"throttle_next": 2,
                                                      "latency_seconds": 0.01}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["throttle_next"] == 2
    assert sim.faults.throttle_next == 2 and sim.faults.latency_seconds == 0.01


def test_refused_id_answers_a_request_error_for_that_id_only(client, simulator, sim):
    kept, refused = (sim.create_hit("https://e.org/exp/x", title=t) for t in ("a", "b"))
    request = urllib.request.Request(simulator.url + "/_simulator/faults", data=json.dumps(
        {"refuse": {refused.hit_id: "AWS.MechanicalTurk.HITDoesNotExist"}}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["refuse"] == {
            refused.hit_id: "AWS.MechanicalTurk.HITDoesNotExist"}
    with pytest.raises(client.exceptions.RequestError) as error:
        client.get_hit(HITId=refused.hit_id)
    assert error.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    assert refused.hit_id in error.value.response["Error"]["Message"]
    assert client.get_hit(HITId=kept.hit_id)["HIT"]["HITId"] == kept.hit_id
    sim.faults.operations = frozenset({"DeleteHIT"})  # the refusal only on these operations
    assert client.get_hit(HITId=refused.hit_id)["HIT"]["HITId"] == refused.hit_id
    bad = urllib.request.Request(simulator.url + "/_simulator/faults",
                                 data=json.dumps({"refuse": ["x"]}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused_setting:
        urllib.request.urlopen(bad, timeout=10)
    assert refused_setting.value.code == 400
    refused_setting.value.close()


def test_paginators_walk_every_page(client, sim):
    for n in range(7):
        sim.create_hit("https://e.org/exp/x", title=f"hit {n}")
    pages = list(client.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 3}))
    assert [len(p["HITs"]) for p in pages] == [3, 3, 1]


def test_worker_site_index_still_answers_get(simulator):
    with urllib.request.urlopen(simulator.url + "/", timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
