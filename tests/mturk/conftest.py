"""Fixtures for ``flask hits``: the local MTurk simulator over HTTP and the real boto3 client."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from experiment_host.simulator import RunningServer, create_simulator_app, serve_in_thread
from experiment_host.simulator.state import SimulatorState
from tests.conftest import SIM_ORIGIN, build_app, dispose
from tests.helpers import records

PUBLIC_URL = "https://experiments.example.org"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Dummy credentials, and nothing else boto3 could look at (no files, no IMDS)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def simulator() -> Iterator[RunningServer]:
    running = serve_in_thread(create_simulator_app(), "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def sim(simulator: RunningServer) -> SimulatorState:
    """The simulator's state (same process), for faults and checks."""
    return simulator.server.app.extensions["mturk_simulator"]  # type: ignore[attr-defined]


@pytest.fixture
def app(database_url: str, simulator: RunningServer) -> Iterator[Flask]:
    app = build_app(
        database_url, MTURK_ENDPOINT_URL=simulator.url, PUBLIC_URL=PUBLIC_URL,
        MTURK_SUBMIT_ORIGINS=("https://workersandbox.mturk.com", SIM_ORIGIN, simulator.url),
        MTURK_MAX_ATTEMPTS=4, MTURK_CONCURRENCY=4,
    )
    yield app
    dispose(app)


@pytest.fixture
def hits(app: Flask) -> Callable[..., Any]:
    """Invoke ``flask hits <args>`` through Flask's CLI runner; ``input`` answers prompts."""
    runner: FlaskCliRunner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(args=["hits", *args], input=input)

    return invoke


def sim_post(url: str, fields: dict[str, str]) -> tuple[str, str]:
    """POST a form to the simulator's worker site; (final URL, body)."""
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return response.geturl(), response.read().decode()


@dataclass
class Worked:
    assignment_id: str
    worker_id: str
    run_id: int | None
    token: str | None


@pytest.fixture
def work(client: FlaskClient, simulator: RunningServer,
         start_run: Callable[..., dict[str, Any]]) -> Callable[..., Worked]:
    """Work a HIT as a worker: accept on the simulated worker site, run the task, submit."""
    counter = iter(range(1, 10_000))

    def do(hit_id: str, slug: str = "basic", n_records: int = 3, complete: bool = True,
           submit: bool = True, start: bool = True, run_worker_id: str | None = None) -> Worked:
        """``run_worker_id``: the workerId the task page is opened with, if not the worker's
        own (a forged or altered link)."""
        worker_id = f"AWORKER{next(counter):07d}"
        url, _ = sim_post(f"{simulator.url}/hits/{hit_id}/accept", {"workerId": worker_id})
        assignment_id = re.search(r"/assignments/([A-Z0-9]+)", url).group(1)  # type: ignore[union-attr]
        run_id = token = None
        if start:
            config = start_run(slug, assignmentId=assignment_id, hitId=hit_id,
                               workerId=run_worker_id or worker_id,
                               turkSubmitTo=simulator.url)
            run_id, token = config["run"]["id"], config["token"]
            if n_records:
                client.post("/api/records", json={"token": token,
                                                  "records": records(0, n_records)})
            if complete:
                answer = client.post("/api/complete", json={"token": token, "total": n_records})
                assert answer.status_code == 200, answer.get_json()
        if submit:
            sim_post(f"{simulator.url}/mturk/externalSubmit",
                     {"assignmentId": assignment_id, "completionCode": "X"})
        return Worked(assignment_id, worker_id, run_id, token)

    return do


@pytest.fixture
def created_hit(hits: Callable[..., Any], sim: SimulatorState) -> Callable[..., str]:
    """Create a HIT through the CLI and return its id."""

    def create(slug: str = "basic", *extra: str) -> str:
        result = hits("create", slug, "--yes", *extra)
        assert result.exit_code == 0, result.output
        return re.findall(r"HIT ([A-Z0-9]{30})", result.output)[-1]

    return create
