"""Health check, PostgreSQL going away and SQLite locked by another process: a clear
retryable 503, nothing half-written."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from experiment_host import database
from experiment_host.extensions import db
from experiment_host.models import TrialRecord
from tests.conftest import POSTGRES_URL, build_app, dispose
from tests.helpers import records, task_config
from tests.tcp_proxy import proxied


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def stored_records(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(TrialRecord))


def test_sqlite_locked_by_another_process_answers_503_and_recovers(tmp_path, monkeypatch):
    """The save runs its statements on the driver's cursor (driver_statements.py); a driver
    error must still be answered as the database error it is, not as a crash."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "locked.sqlite3"
    app = build_app(f"sqlite:///{path}")
    client = app.test_client()
    args = {"assignmentId": "LOCKED00000000000000000000000001", "hitId": "H",
            "workerId": "ALOCKED0000001", "turkSubmitTo": "https://www.mturk.com"}
    config = task_config(client.get("/exp/open", query_string=args).data)
    body = {"token": config["token"], "records": records(0, 5)}

    other = sqlite3.connect(path, isolation_level=None)  # e.g. a CLI command writing
    other.execute("BEGIN IMMEDIATE")
    down = client.post("/api/records", json=body)
    assert down.status_code == 503
    assert down.get_json()["error"] == "database_unavailable"
    other.execute("ROLLBACK")
    other.close()
    assert stored_records(app) == 0

    up = client.post("/api/records", json=body)
    assert up.status_code == 200 and up.get_json()["saved"] == 5
    assert stored_records(app) == 5
    dispose(app)


@pytest.fixture
def proxied_app():
    proxy, url = proxied(POSTGRES_URL)
    app = build_app(url)
    yield app, proxy
    proxy.close()
    dispose(app)


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_postgres_outage_answers_503_and_recovers(proxied_app):
    app, proxy = proxied_app
    client = app.test_client()
    args = {"assignmentId": "OUTAGE0000000000000000000000001", "hitId": "H",
            "workerId": "AOUTAGE0000001", "turkSubmitTo": "https://www.mturk.com"}
    config = task_config(client.get("/exp/open", query_string=args).data)
    body = {"token": config["token"], "records": records(0, 5)}

    proxy.cut()
    down = client.post("/api/records", json=body)
    assert down.status_code == 503
    assert down.get_json()["error"] == "database_unavailable"
    assert "try again" in down.get_json()["message"]
    assert client.get("/healthz").status_code == 503
    page = client.get("/exp/open", query_string=args)
    assert page.status_code == 503 and b"try again" in page.data

    proxy.restore()
    assert client.get("/healthz").status_code == 200
    up = client.post("/api/records", json=body)
    assert up.status_code == 200 and up.get_json()["saved"] == 5
    assert stored_records(app) == 5


@pytest.fixture
def postgres_client():
    """A PostgreSQL app's test client, and the start of a run on it."""
    app = build_app(POSTGRES_URL)
    client = app.test_client()
    args = {"assignmentId": "IDLEPING000000000000000000000001", "hitId": "H",
            "workerId": "AIDLEPING000001", "turkSubmitTo": "https://www.mturk.com"}
    config = task_config(client.get("/exp/open", query_string=args).data)
    yield app, client, config["token"]
    dispose(app)


def end_other_sessions() -> int:
    """Terminate every other session on the test database, as a server restart would."""
    engine = create_engine(POSTGRES_URL, poolclass=NullPool)
    with engine.connect() as connection:
        return connection.scalar(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_after_a_restart_an_idle_pool_answers_the_first_request(postgres_client, monkeypatch):
    _app, client, token = postgres_client
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.05)
    assert end_other_sessions() >= 1
    time.sleep(0.1)
    response = client.post("/api/records", json={"token": token, "records": records(0, 3)})
    assert response.status_code == 200 and response.get_json()["saved"] == 3


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
def test_a_connection_in_steady_use_is_not_pinged(postgres_client, monkeypatch):
    app, client, token = postgres_client
    pings: list[object] = []
    dialect = app.extensions["plain_saves"].engine.dialect  # the engine the saves use
    real_ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 60.0)  # however slow this machine
    for seq in range(5):
        client.post("/api/records", json={"token": token, "records": records(seq, seq + 1)})
    assert pings == []
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    response = client.post("/api/records", json={"token": token, "records": records(5, 6)})
    assert response.get_json()["saved"] == 6
    assert len(pings) == 1


def test_every_pooled_connection_busy_answers_503(database_url):
    """A flood that holds every connection for the pool's timeout: retryable, not a crash."""
    app = build_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={
        "pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2})
    client = app.test_client()
    args = {"assignmentId": "POOLBUSY000000000000000000000001", "hitId": "H",
            "workerId": "APOOLBUSY00001", "turkSubmitTo": "https://www.mturk.com"}
    token = task_config(client.get("/exp/open", query_string=args).data)["token"]
    with app.app_context(), db.engine.connect():  # the pool's only connection
        busy = client.post("/api/heartbeat", json={"token": token})
    assert busy.status_code == 503
    assert busy.get_json()["error"] == "database_unavailable"
    assert client.post("/api/heartbeat", json={"token": token}).status_code == 200
    dispose(app)
