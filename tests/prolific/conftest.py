"""Fixtures for ``flask prolific``: the local Prolific simulator over HTTP, our client, and
participants who take a study through the simulator's study page."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from experiment_host.simulator import RunningServer, create_simulator_app, serve_in_thread
from experiment_host.simulator.prolific_state import ProlificState
from tests.conftest import build_app, dispose
from tests.helpers import records

PUBLIC_URL = "https://experiments.example.org"
EXPERIMENTS = Path(__file__).parent / "experiments"


@pytest.fixture
def simulator() -> Iterator[RunningServer]:
    running = serve_in_thread(create_simulator_app(), "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def sim(simulator: RunningServer) -> ProlificState:
    """The simulator's Prolific state (same process), for faults and checks."""
    return simulator.server.app.extensions["prolific_simulator"]  # type: ignore[attr-defined]


@pytest.fixture
def app(database_url: str, simulator: RunningServer) -> Iterator[Flask]:
    app = build_app(
        database_url, EXPERIMENTS_DIR=str(EXPERIMENTS), PUBLIC_URL=PUBLIC_URL,
        PROLIFIC_API_URL=f"{simulator.url}/prolific/api/v1", PROLIFIC_API_TOKEN="test-token",
        PROLIFIC_COMPLETE_URL=f"{simulator.url}/prolific/submissions/complete",
        PROLIFIC_BACKOFF_MS=1, PROLIFIC_MAX_ATTEMPTS=4, PROLIFIC_CONCURRENCY=4,
    )
    yield app
    dispose(app)


@pytest.fixture
def prolific(app: Flask) -> Callable[..., Any]:
    """Invoke ``flask prolific <args>``; ``input`` answers prompts."""
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(args=["prolific", *args], input=input)

    return invoke


def sim_call(url: str, data: dict[str, str] | None = None, cookie: str = ""
             ) -> tuple[int, dict[str, str], str]:
    """GET (or POST a form) on the simulator without following redirects."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def faults(simulator: RunningServer, **settings: Any) -> None:
    request = urllib.request.Request(f"{simulator.url}/prolific/_simulator/faults",
                                     data=json.dumps(settings).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def created_study(prolific: Callable[..., Any]) -> Callable[..., str]:
    """Create (and by default publish) the study through the CLI; its id."""

    def create(publish: bool = True, *extra: str) -> str:
        result = prolific("create", "survey", "--yes", *extra)
        assert result.exit_code == 0, result.output
        study_id = result.output.split("draft study ")[1].split()[0]
        if publish:
            published = prolific("publish", study_id, "--yes")
            assert published.exit_code == 0, published.output
        return study_id

    return create


@pytest.fixture
def hand_made_study(app: Flask, sim: ProlificState) -> Callable[[], str]:
    """Publish, in the simulator only, a study the researcher made on Prolific's site (not
    with ``flask prolific create``): its arrivals are participants' runs, not test runs."""
    counter = iter(range(1, 1000))

    def make() -> str:
        study_id = f"5e{next(counter):022x}"
        url = (f"{app.config['PUBLIC_URL']}/exp/survey?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}"
               "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}")
        with sim.lock:
            sim.studies[study_id] = {
                "id": study_id, "name": "Made by hand", "description": "", "status": "ACTIVE",
                "external_study_url": url, "total_available_places": 5, "reward": 60,
                "estimated_completion_time": 2, "completion_codes": [
                    {"code": "SURVEYDONE", "code_type": "COMPLETED",
                     "actions": [{"action": "MANUALLY_REVIEW"}]}]}
        return study_id

    return make


@dataclass
class Took:
    participant_id: str
    submission_id: str
    run_id: int | None
    token: str | None
    cookie: str


@pytest.fixture
def take(client: FlaskClient, simulator: RunningServer) -> Callable[..., Took]:
    """A participant takes the study: starts it on the simulator's study page, opens our
    task page with the three ids, saves records, maybe a bonus, completes and returns."""
    counter = iter(range(1, 10_000))

    def do(study_id: str, n_records: int = 3, complete: bool = True, come_back: bool = True,
           bonus: str | None = None, run_participant: str | None = None) -> Took:
        participant_id = f"{next(counter):024x}"
        status, headers, _ = sim_call(f"{simulator.url}/prolific/studies/{study_id}/start",
                                      {"participant_id": participant_id})
        assert status == 303, status
        cookie = headers["Set-Cookie"].split(";")[0]
        args = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
        if run_participant:
            args["PROLIFIC_PID"] = run_participant
        page = client.get("/exp/survey", query_string=args, follow_redirects=True)
        assert page.status_code == 200, page.data
        from tests.helpers import task_config

        config = task_config(page.data)
        token = config["token"]
        if n_records:
            client.post("/api/records", json={"token": token, "records": records(0, n_records)})
        if bonus:
            answer = client.post("/api/bonus", json={"token": token, "amount": bonus,
                                                     "reason": "Accurate answers"})
            assert answer.status_code == 200, answer.get_json()
        if complete:
            answer = client.post("/api/complete", json={"token": token, "total": n_records})
            assert answer.status_code == 200, answer.get_json()
        if come_back:
            status, _, body = sim_call(
                f"{simulator.url}/prolific/submissions/complete?cc=SURVEYDONE", cookie=cookie)
            assert status == 200, body
        return Took(participant_id, args["SESSION_ID"], config["run"]["id"], token, cookie)

    return do
