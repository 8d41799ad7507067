"""Health check, and PostgreSQL going away: a clear retryable 503, nothing half-written."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.models import TrialRecord
from tests.conftest import POSTGRES_URL, build_app, dispose
from tests.helpers import records, task_config
from tests.tcp_proxy import TcpProxy


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.fixture
def proxied_app():
    parts = urlsplit(POSTGRES_URL)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    app = build_app(urlunsplit(parts._replace(netloc=netloc)))
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
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(TrialRecord))
    assert count == 5
