"""plain_saves: the everyday saves that arrive together are written together (PostgreSQL:
one statement outside a transaction; SQLite: one transaction); a run's save is stored only
when it needs no decision, and nothing of the others changes (each is then saved the
transactional way)."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, select, text

from experiment_host import database, rate_limits
from experiment_host.extensions import db
from experiment_host.models import Run, TrialRecord
from experiment_host.saving import RecordIn, plain_saves, save_sql
from experiment_host.saving.plain_saves import PlainSave
from experiment_host.saving.records import plain_save
from experiment_host.tokens import verify
from tests.conftest import POSTGRES_URL, build_app, dispose, needs_postgres, postgres_connection
from tests.helpers import HANG_SECONDS, records, task_config, wait_until


def enter(client, n: int) -> str:
    """A new worker's run token; its first save (seqs 0 and 1) registered the columns."""
    args = {"assignmentId": f"AUTOCOMMIT{n:021d}", "hitId": "H",
            "workerId": f"AAUTOCOMMIT{n:04d}", "turkSubmitTo": "https://www.mturk.com"}
    token = task_config(client.get("/exp/open", query_string=args).data)["token"]
    first = client.post("/api/records", json={"token": token, "records": records(0, 2)})
    assert first.get_json()["saved"] == 2
    return token


@pytest.fixture
def started():
    """A PostgreSQL app (5 requests per run and minute), in its context, and the token of a
    started run."""
    app = build_app(POSTGRES_URL, RUN_REQUESTS_PER_MINUTE=5)
    client = app.test_client()
    with app.app_context():  # for verify() and plain_save() in the tests
        yield app, client, enter(client, 1)
    dispose(app)


def run_state(app, run_id: int | None = None) -> tuple[list[int], int, int, int]:
    """Stored seqs, record_count, next_seq and requests counted this minute of a run."""
    with app.app_context():
        run = (db.session.get(Run, run_id) if run_id is not None
               else db.session.scalars(select(Run)).one())
        seqs = list(db.session.scalars(select(TrialRecord.seq).where(TrialRecord.run_id == run.id)
                                       .order_by(TrialRecord.seq)))
        return seqs, run.record_count, run.next_seq, run.rate_count


def save_of(token: str, batch: list[dict[str, Any]], dialect: str = "postgresql") -> PlainSave:
    return plain_save(verify(token), [RecordIn(r["seq"], r["data"]) for r in batch], dialect)


def save_all(app, *saves: PlainSave) -> list[tuple[int, int] | None]:
    """One statement for these saves, as the group commit sends it."""
    with app.app_context():
        return app.extensions["plain_saves"].save_all(saves)


def statements_of(app) -> list[dict[str, Any]]:
    """Every statement the plain saves' engine sends from now on, as psycopg is given it:
    its first word, its parameters, and the driver error it met (None if none). The
    statements run on the driver's cursor, so they are watched there, not by SQLAlchemy."""
    seen: list[dict[str, Any]] = []

    class Watched(psycopg.Cursor):
        def execute(self, query, params=None, **options):  # type: ignore[override]
            assert self.connection.autocommit
            statement = {"verb": str(query).split()[0], **(params or {}), "error": None}
            seen.append(statement)
            try:
                return super().execute(query, params, **options)
            except psycopg.Error as error:
                statement["error"] = error
                raise

    def watch(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.cursor_factory = Watched

    event.listen(app.extensions["plain_saves"].engine, "checkout", watch)
    return seen


@needs_postgres
def test_a_plain_save_is_one_statement_in_autocommit(started):
    app, client, token = started
    plain = statements_of(app)
    other: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda _c, _cu, statement, *_: other.append(statement))
    response = client.post("/api/records", json={"token": token, "records": records(2, 4)})
    assert response.get_json() == {"stored": 2, "duplicates": 0, "saved": 4, "next_seq": 4}
    assert [(s["verb"], s["run_ids"], s["seqs"]) for s in plain] == [("WITH", "{1}", "{2,3}")]
    assert other == []  # nothing on the transactional engine
    assert run_state(app) == ([0, 1, 2, 3], 4, 4, 2)


@needs_postgres
def test_a_resend_changes_nothing_and_the_transactional_save_answers(started):
    app, client, token = started
    plain = statements_of(app)
    assert save_all(app, save_of(token, records(1, 4))) == [None]
    assert [s["error"] for s in plain] == [None]  # refused by its guard, not by an error
    assert run_state(app) == ([0, 1], 2, 2, 1)
    response = client.post("/api/records", json={"token": token, "records": records(1, 4)})
    assert response.get_json() == {"stored": 2, "duplicates": 1, "saved": 4, "next_seq": 4}


@needs_postgres
def test_at_the_request_budget_it_changes_nothing(started):
    app, client, token = started
    for seq in range(2, 6):  # requests 2 to 5 of this minute
        assert save_all(app, save_of(token, records(seq, seq + 1))) != [None]
    assert save_all(app, save_of(token, records(6, 7))) == [None]
    assert run_state(app) == ([0, 1, 2, 3, 4, 5], 6, 6, 5)
    assert client.post("/api/records", json={"token": token, "records": records(6, 7)}
                       ).status_code == 429


@needs_postgres
def test_several_runs_in_one_statement_each_decided_on_its_own(started):
    app, client, token = started
    resending, finished = enter(client, 2), enter(client, 3)
    with app.app_context():
        db.session.execute(text("UPDATE runs SET status = 'completed' WHERE id = :id"),
                           {"id": verify(finished).run_id})
        db.session.commit()
    answers = save_all(app, save_of(finished, records(2, 3)), save_of(token, records(2, 5)),
                       save_of(resending, records(1, 3)))
    assert answers == [None, (5, 5), None]
    assert run_state(app, verify(token).run_id) == ([0, 1, 2, 3, 4], 5, 5, 2)
    assert run_state(app, verify(resending).run_id) == ([0, 1], 2, 2, 1)
    assert run_state(app, verify(finished).run_id) == ([0, 1], 2, 2, 1)


@needs_postgres
def test_a_runs_second_save_in_the_same_statement_is_left_to_its_request(started):
    app, _client, token = started
    assert save_all(app, save_of(token, records(2, 3)), save_of(token, records(3, 4))) == [
        (3, 3), None]
    assert run_state(app) == ([0, 1, 2], 3, 3, 2)


@needs_postgres
def test_a_statement_the_database_refuses_stores_none_of_its_saves(started):
    app, client, token = started
    other = enter(client, 2)
    broken = PlainSave(verify(other).run_id, verify(other).page_key, [2], "[Infinity]", 3, 8)
    assert save_all(app, save_of(token, records(2, 3)), broken) == [None, None]
    assert run_state(app, verify(token).run_id) == ([0, 1], 2, 2, 1)
    assert run_state(app, verify(other).run_id) == ([0, 1], 2, 2, 1)


def queued_saves(app) -> int:
    """Saves waiting in the app's group for the write under way to end."""
    group = app.extensions["plain_saves"].group
    with group._lock:
        return len(group._queue)


def in_thread(work) -> tuple[threading.Thread, list]:
    """Run ``work`` in a thread (it waits for whatever another transaction holds)."""
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(work()))
    thread.start()
    return thread, outcome


@needs_postgres
def test_a_seq_stored_meanwhile_undoes_the_whole_statement(started):
    app, client, token = started
    other_token = enter(client, 2)
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("INSERT INTO trial_records (run_id, seq, data, received_at) "
                           "VALUES (:id, 3, '{\"trial\": 3}', now())"),
                      {"id": verify(token).run_id})
        saves = save_of(token, records(2, 5)), save_of(other_token, records(2, 4))
        thread, outcome = in_thread(lambda: save_all(app, *saves))
        thread.join(0.5)
        assert thread.is_alive()  # waits for the other transaction's seq 3
        other.commit()
    thread.join(HANG_SECONDS)
    assert outcome == [[None, None]]
    assert run_state(app, verify(token).run_id) == ([0, 1, 3], 2, 2, 1)
    assert run_state(app, verify(other_token).run_id) == ([0, 1], 2, 2, 1)
    # Each request then saves its own batch the transactional way.
    assert client.post("/api/records", json={"token": other_token, "records": records(2, 4)}
                       ).get_json()["stored"] == 2


@needs_postgres
def test_a_completion_committed_meanwhile_is_seen(started):
    app, _client, token = started
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("UPDATE runs SET status = 'completed'"))
        save = save_of(token, records(2, 4))
        thread, outcome = in_thread(lambda: save_all(app, save))
        thread.join(0.5)
        assert thread.is_alive()  # waits for the run's row
        other.commit()
    thread.join(HANG_SECONDS)
    assert outcome == [[None]]
    assert run_state(app) == ([0, 1], 2, 2, 1)


@needs_postgres
def test_saves_that_arrive_during_a_statement_share_the_next(started):
    """Requests of one process: while one save waits on its run's row, five others queue,
    then all five go in one statement, and every request gets its own answer."""
    app, client, token = started
    tokens = [enter(client, n) for n in range(2, 7)]
    plain = statements_of(app)

    def post(run_token: str, seqs: tuple[int, int]) -> Any:
        with app.test_client() as own:
            return own.post("/api/records", json={"token": run_token,
                                                  "records": records(*seqs)}).get_json()

    with app.app_context(), db.engine.connect() as other:
        other.execute(text("SELECT 1 FROM runs WHERE id = :id FOR UPDATE"),
                      {"id": verify(token).run_id})
        first, first_answer = in_thread(lambda: post(token, (2, 4)))
        # The first save's statement is out, waiting for the row.
        wait_until(lambda: plain, "the first save's statement")
        queued = [in_thread(lambda t=t: post(t, (2, 3))) for t in tokens]
        wait_until(lambda: queued_saves(app) == len(tokens), "the other saves queued")
        other.rollback()
    for thread, _ in ((first, first_answer), *queued):
        thread.join(HANG_SECONDS)
    assert [len(s["run_ids"].split(",")) for s in plain] == [1, 5]
    assert first_answer == [{"stored": 2, "duplicates": 0, "saved": 4, "next_seq": 4}]
    assert [answer for _, answer in queued] == [
        [{"stored": 1, "duplicates": 0, "saved": 3, "next_seq": 3}]] * len(tokens)
    for run_token in tokens:
        assert run_state(app, verify(run_token).run_id) == ([0, 1, 2], 3, 3, 2)


@needs_postgres
def test_a_statement_held_too_long_fails_with_503_and_the_resend_is_stored(monkeypatch):
    """The process's saves queue behind its group's statement: a stuck one must not hold
    them for long (database.AUTOCOMMIT_STATEMENT_TIMEOUT_MS, here 300 ms)."""
    monkeypatch.setattr(database, "AUTOCOMMIT_STATEMENT_TIMEOUT_MS", 300)
    app = build_app(POSTGRES_URL)
    client = app.test_client()
    token = enter(client, 1)
    body = {"token": token, "records": records(2, 4)}
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("SELECT 1 FROM runs FOR UPDATE"))  # e.g. a long researcher update
        held = client.post("/api/records", json=body)
        other.rollback()
    assert held.status_code == 503
    assert held.get_json()["error"] == "database_unavailable"
    assert run_state(app) == ([0, 1], 2, 2, 1)
    assert client.post("/api/records", json=body).get_json()["saved"] == 4
    dispose(app)


@needs_postgres
def test_stored_seqs_are_looked_up_by_index_not_by_scanning_the_records(started):
    """The statement is planned once per connection (a generic plan), so its plan must not
    depend on how many records the table holds: no scan of trial_records, here with 20,000
    records of another run (a size at which a hash join over a scan looks cheaper)."""
    app, client, token = started
    other = enter(client, 2)
    with app.app_context():
        db.session.execute(text(
            "INSERT INTO trial_records (run_id, seq, data, received_at) "
            "SELECT :id, seq, '{}', now() FROM generate_series(2, 20001) AS seq"),
            {"id": verify(other).run_id})
        db.session.commit()
        db.session.execute(text("ANALYZE trial_records"))
        db.session.commit()
    engine = app.extensions["plain_saves"].engine
    sql = plain_saves._statement(type(engine.dialect)).sql
    connection = engine.raw_connection()
    driver = connection.driver_connection
    try:
        for seq in range(2, 10):  # psycopg prepares a statement from its fifth execution on
            parameters = plain_saves._parameters([save_of(token, records(seq, seq + 1))])
            parameters["now"] = parameters["now"].replace(tzinfo=None)
            parameters["budget"] = 100  # the fixture allows 5 requests a minute
            with driver.transaction():
                assert driver.execute(sql, parameters, prepare=True).fetchall()
                scans = driver.execute("SELECT seq_scan FROM pg_stat_xact_user_tables "
                                       "WHERE relname = 'trial_records'").fetchone()
                assert scans == (0,), seq
    finally:
        connection.close()
    assert run_state(app, verify(token).run_id)[0] == list(range(10))


def table_updates(table: str) -> tuple[int, int]:
    """PostgreSQL's count of a table's updated rows and, of those, the HOT updates (the new
    row version written within its page, no index touched), as far as reported yet."""
    with postgres_connection(autocommit=True) as connection:
        row = connection.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                 "WHERE relname = %s", (table,)).fetchone()
    assert row is not None
    return row[0], row[1]


@needs_postgres
def test_saves_and_heartbeats_rewrite_the_run_within_its_page():
    """No index holds a column that a save or a heartbeat changes (last_seen_at moves on
    only every SEEN_RESOLUTION), so each of them is a HOT update of the run's row: no new
    entry in each of the runs' indexes per save. Plain saves, a resend (the transactional
    save) and heartbeats alike."""
    app = build_app(POSTGRES_URL)
    client = app.test_client()
    with app.app_context():
        token = enter(client, 1)
    requests = [{"records": records(seq, seq + 1)} for seq in range(2, 12)]
    requests += [{"records": records(10, 13)}, {}, {}]  # a resend, two heartbeats
    for body in requests:
        path = "/api/records" if body else "/api/heartbeat"
        assert client.post(path, json={"token": token, **body}).status_code == 200
    dispose(app)  # a backend reports its table statistics when its connection closes
    wait_until(lambda: table_updates("runs")[0] >= len(requests), "the updates reported")
    updates, hot = counts = table_updates("runs")
    # The first save (in enter) and the entry's own updates may touch indexed columns.
    assert updates >= len(requests)
    assert hot >= len(requests), counts


# SQLite: the plain saves that arrive together share one transaction.

@pytest.fixture
def sqlite_started(tmp_path):
    """A SQLite app (5 requests per run and minute), in its context, and a started run."""
    app = build_app(f"sqlite:///{tmp_path / 'plain.sqlite3'}", RUN_REQUESTS_PER_MINUTE=5)
    client = app.test_client()
    with app.app_context():
        yield app, client, enter(client, 1)
    dispose(app)


def transactions_of(app, monkeypatch) -> list[int]:
    """The number of saves in each of the plain saves' transactions from now on."""
    sizes: list[int] = []
    saves = app.extensions["plain_saves"]
    real = saves.save_all
    monkeypatch.setattr(saves.group, "_write", lambda batch: sizes.append(len(batch))
                        or real(batch))
    return sizes


def test_sqlite_a_plain_save_is_one_transaction_of_its_own(sqlite_started, monkeypatch):
    app, client, token = sqlite_started
    sizes = transactions_of(app, monkeypatch)
    response = client.post("/api/records", json={"token": token, "records": records(2, 4)})
    assert response.get_json() == {"stored": 2, "duplicates": 0, "saved": 4, "next_seq": 4}
    assert sizes == [1]
    assert run_state(app) == ([0, 1, 2, 3], 4, 4, 2)


def test_sqlite_several_runs_in_one_transaction_each_decided_on_its_own(sqlite_started):
    app, client, token = sqlite_started
    resending, finished, busy = enter(client, 2), enter(client, 3), enter(client, 4)
    db.session.execute(text("UPDATE runs SET status = 'completed' WHERE id = :id"),
                       {"id": verify(finished).run_id})
    db.session.execute(text("UPDATE runs SET rate_count = 5, rate_window = :window "
                            "WHERE id = :id"),
                       {"id": verify(busy).run_id, "window": rate_limits.current_window(60)})
    db.session.commit()
    saves = [save_of(finished, records(2, 3), "sqlite"), save_of(token, records(2, 5), "sqlite"),
             save_of(resending, records(1, 3), "sqlite"), save_of(busy, records(2, 3), "sqlite"),
             save_of(token, records(5, 6), "sqlite")]
    assert app.extensions["plain_saves"].save_all(saves) == [None, (5, 5), None, None, (6, 6)]
    assert run_state(app, verify(token).run_id) == ([0, 1, 2, 3, 4, 5], 6, 6, 3)
    for untouched in (resending, finished):
        assert run_state(app, verify(untouched).run_id) == ([0, 1], 2, 2, 1)
    assert run_state(app, verify(busy).run_id) == ([0, 1], 2, 2, 5)
    # Each refused save then goes the transactional way, which says why or stores it.
    answers = [client.post("/api/records", json={"token": t, "records": batch})
               for t, batch in ((finished, records(2, 3)), (resending, records(1, 3)),
                                (busy, records(2, 3)))]
    assert [a.status_code for a in answers] == [409, 200, 429]
    assert answers[1].get_json() == {"stored": 1, "duplicates": 1, "saved": 3, "next_seq": 3}


def test_sqlite_a_save_the_database_refuses_leaves_the_others_of_its_transaction(
        sqlite_started):
    app, client, token = sqlite_started
    other = enter(client, 2)
    broken = PlainSave(verify(other).run_id, verify(other).page_key, [2],
                       '[{"data": {"no": "seq"}}]', 3, 12)  # a NULL seq: NOT NULL refuses it
    saves = [broken, save_of(token, records(2, 3), "sqlite")]
    assert app.extensions["plain_saves"].save_all(saves) == [None, (3, 3)]
    assert run_state(app, verify(other).run_id) == ([0, 1], 2, 2, 1)
    assert run_state(app, verify(token).run_id) == ([0, 1, 2], 3, 3, 2)


def test_sqlite_saves_read_while_the_first_gathers_share_its_transaction(sqlite_started,
                                                                         monkeypatch):
    app, client, token = sqlite_started
    tokens = [enter(client, n) for n in range(2, 7)]
    sizes = transactions_of(app, monkeypatch)
    group = app.extensions["plain_saves"].group

    def gather() -> None:  # the first save waits until the other five have queued
        wait_until(lambda: queued_saves(app) == len(tokens), "the other saves queued")

    monkeypatch.setattr(group, "_gather", gather)

    def post(run_token: str, seqs: tuple[int, int]) -> Any:
        with app.test_client() as own:
            return own.post("/api/records", json={"token": run_token,
                                                  "records": records(*seqs)}).get_json()

    first = in_thread(lambda: post(token, (2, 4)))
    threading.Event().wait(0.2)
    others = [in_thread(lambda t=t: post(t, (2, 3))) for t in tokens]
    for thread, _ in (first, *others):
        thread.join(HANG_SECONDS)
    assert sizes == [6]
    assert first[1] == [{"stored": 2, "duplicates": 0, "saved": 4, "next_seq": 4}]
    assert [answer for _, answer in others] == [
        [{"stored": 1, "duplicates": 0, "saved": 3, "next_seq": 3}]] * len(tokens)
    for run_token in tokens:
        assert run_state(app, verify(run_token).run_id) == ([0, 1, 2], 3, 3, 2)


# SQLite counterparts of the PostgreSQL tests above, where SQLite has the behaviour.

def test_sqlite_a_resend_changes_nothing_and_the_transactional_save_answers(sqlite_started):
    app, client, token = sqlite_started
    assert save_all(app, save_of(token, records(1, 4), "sqlite")) == [None]
    assert run_state(app) == ([0, 1], 2, 2, 1)
    response = client.post("/api/records", json={"token": token, "records": records(1, 4)})
    assert response.get_json() == {"stored": 2, "duplicates": 1, "saved": 4, "next_seq": 4}


def test_sqlite_at_the_request_budget_it_changes_nothing(sqlite_started):
    app, client, token = sqlite_started
    for seq in range(2, 6):  # requests 2 to 5 of this minute
        assert save_all(app, save_of(token, records(seq, seq + 1), "sqlite")) != [None]
    assert save_all(app, save_of(token, records(6, 7), "sqlite")) == [None]
    assert run_state(app) == ([0, 1, 2, 3, 4, 5], 6, 6, 5)
    assert client.post("/api/records", json={"token": token, "records": records(6, 7)}
                       ).status_code == 429


def test_sqlite_a_seq_stored_meanwhile_refuses_that_save_whole(sqlite_started):
    app, client, token = sqlite_started
    other_token = enter(client, 2)
    db.session.execute(text("INSERT INTO trial_records (run_id, seq, data, received_at) "
                            "VALUES (:id, 3, '{\"trial\": 3}', '2026-11-01 10:00:00')"),
                       {"id": verify(token).run_id})
    db.session.commit()
    saves = save_of(token, records(2, 5), "sqlite"), save_of(other_token, records(2, 4), "sqlite")
    assert save_all(app, *saves) == [None, (4, 4)]
    assert run_state(app, verify(token).run_id) == ([0, 1, 3], 2, 2, 1)
    assert run_state(app, verify(other_token).run_id) == ([0, 1, 2, 3], 4, 4, 2)


def test_sqlite_a_completion_committed_before_is_seen(sqlite_started):
    app, client, token = sqlite_started
    db.session.execute(text("UPDATE runs SET status = 'completed'"))
    db.session.commit()
    assert save_all(app, save_of(token, records(2, 4), "sqlite")) == [None]
    assert run_state(app) == ([0, 1], 2, 2, 1)
    response = client.post("/api/records", json={"token": token, "records": records(2, 4)})
    assert response.status_code == 409 and response.get_json()["error"] == "run_finished"


def test_sqlite_stored_seqs_are_looked_up_by_index_not_by_scanning_the_records(sqlite_started):
    """SQLite's plain insert finds the batch's stored seqs and the run's row by index."""
    _app, _client, token = sqlite_started
    plain = save_of(token, records(2, 4), "sqlite")
    parameters = {"run_id": plain.run_id, "claimed_page": plain.page_key,
                  "records": plain.records, "batch_size": 2, "batch_bytes": plain.batch_bytes,
                  "now": "2026-11-01 10:00:00", "window": 0, "budget": 5, "max_records": 100,
                  "max_bytes": 10_000}
    plan = db.session.execute(text(f"EXPLAIN QUERY PLAN {save_sql.insert_if_plain_sqlite()}"),
                              parameters).all()
    details = [row[-1] for row in plan]
    assert any("stored USING" in detail and "INDEX" in detail for detail in details), details
    assert any("runs USING INTEGER PRIMARY KEY" in detail for detail in details), details
    assert not any(detail.startswith("SCAN stored") or detail == "SCAN runs"
                   for detail in details), details
    db.session.rollback()
