"""autocommit_save: PostgreSQL's everyday save is one statement outside a transaction, and
it changes nothing whenever the save needs a decision (the transactional save decides)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, select, text

from experiment_host.autocommit_save import save_if_plain
from experiment_host.extensions import db
from experiment_host.models import Run, TrialRecord
from experiment_host.records import RecordIn, save_parameters
from experiment_host.tokens import verify
from tests.conftest import POSTGRES_URL, build_app, dispose
from tests.helpers import records, task_config

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")


@pytest.fixture
def started():
    """A PostgreSQL app, and the token of a run whose first save registered its columns."""
    app = build_app(POSTGRES_URL, RUN_REQUESTS_PER_MINUTE=5)
    args = {"assignmentId": "AUTOCOMMIT000000000000000000001", "hitId": "H",
            "workerId": "AAUTOCOMMIT0001", "turkSubmitTo": "https://www.mturk.com"}
    client = app.test_client()
    token = task_config(client.get("/exp/open", query_string=args).data)["token"]
    first = client.post("/api/records", json={"token": token, "records": records(0, 2)})
    assert first.get_json()["saved"] == 2
    yield app, client, token
    dispose(app)


def run_state(app) -> tuple[list[int], int, int, int]:
    """Stored seqs, record_count, next_seq and requests counted this minute."""
    with app.app_context():
        seqs = list(db.session.scalars(select(TrialRecord.seq).order_by(TrialRecord.seq)))
        run = db.session.scalars(select(Run)).one()
        return seqs, run.record_count, run.next_seq, run.rate_count


def plain_save(app, token: str, batch: list[dict[str, Any]]) -> tuple[int, int] | None:
    with app.app_context():
        items = [RecordIn(r["seq"], r["data"]) for r in batch]
        return save_if_plain(save_parameters("postgresql", verify(token), items), 5)


def test_a_plain_save_is_one_statement_in_autocommit(started):
    app, client, token = started
    seen: list[tuple[str, bool]] = []

    def watch(connection, cursor, statement, *_):
        seen.append((statement.split()[0], connection.connection.driver_connection.autocommit))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", watch)
    response = client.post("/api/records", json={"token": token, "records": records(2, 4)})
    assert response.get_json() == {"stored": 2, "duplicates": 0, "saved": 4, "next_seq": 4}
    assert seen == [("WITH", True)]
    assert run_state(app) == ([0, 1, 2, 3], 4, 4, 2)


def test_a_resend_changes_nothing_and_the_transactional_save_answers(started):
    app, client, token = started
    errors: list[Exception] = []
    with app.app_context():
        event.listen(db.engine, "handle_error", lambda context: errors.append(context))
    assert plain_save(app, token, records(1, 4)) is None
    assert errors == []  # refused by its guard, not by a unique violation
    assert run_state(app) == ([0, 1], 2, 2, 1)
    response = client.post("/api/records", json={"token": token, "records": records(1, 4)})
    assert response.get_json() == {"stored": 2, "duplicates": 1, "saved": 4, "next_seq": 4}


def test_at_the_request_budget_it_changes_nothing(started):
    app, client, token = started
    for seq in range(2, 6):  # requests 2 to 5 of this minute
        assert plain_save(app, token, records(seq, seq + 1)) is not None
    assert plain_save(app, token, records(6, 7)) is None
    assert run_state(app) == ([0, 1, 2, 3, 4, 5], 6, 6, 5)
    assert client.post("/api/records", json={"token": token, "records": records(6, 7)}
                       ).status_code == 429


def waiting_save(app, token: str, batch: list[dict[str, Any]]) -> tuple[threading.Thread, list]:
    """A plain save started in a thread (it waits for whatever another transaction holds)."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(plain_save(app, token, batch)))
    thread.start()
    return thread, outcome


def test_a_seq_stored_meanwhile_undoes_the_whole_statement(started):
    app, _client, token = started
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("INSERT INTO trial_records (run_id, seq, data, received_at) "
                           "SELECT id, 3, '{\"trial\": 3}', now() FROM runs"))
        thread, outcome = waiting_save(app, token, records(2, 5))
        thread.join(0.5)
        assert thread.is_alive()  # waits for the other transaction's seq 3
        other.commit()
    thread.join(10)
    assert outcome == [None]
    assert run_state(app) == ([0, 1, 3], 2, 2, 1)  # seq 2 and 4 not stored, nothing counted


def test_a_completion_committed_meanwhile_is_seen(started):
    app, _client, token = started
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("UPDATE runs SET status = 'completed'"))
        thread, outcome = waiting_save(app, token, records(2, 4))
        thread.join(0.5)
        assert thread.is_alive()  # waits for the run's row
        other.commit()
    thread.join(10)
    assert outcome == [None]
    assert run_state(app) == ([0, 1], 2, 2, 1)
