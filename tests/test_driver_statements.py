"""driver_statements: the save statements on the driver's cursor store exactly what
SQLAlchemy's own execution of the same statements stores, and a connection lost or left
mid-statement is never used again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from experiment_host.database import write_transaction
from experiment_host.driver_statements import DriverStatement, commit_together
from experiment_host.extensions import db
from experiment_host.models import ExperimentRow, Run, RunStatus, UTCDateTime, utcnow
from tests.conftest import POSTGRES_URL, build_app, dispose, needs_postgres
from tests.helpers import task_config

#: Typed parameter (a UTC timestamp) and literals the statement binds itself (the status).
SEEN = (update(Run)
        .where(Run.id == bindparam("run_id"), Run.status == RunStatus.IN_PROGRESS)
        .values(last_seen_at=bindparam("now", type_=UTCDateTime()))
        .returning(Run.id))


@pytest.fixture
def app_with_run(tmp_path):
    """A SQLite app holding one run in progress, and that run's id."""
    app = build_app(f"sqlite:///{tmp_path / 'driver.sqlite3'}")
    args = {"assignmentId": "DRIVER00000000000000000000000001", "hitId": "H",
            "workerId": "ADRIVER0000001", "turkSubmitTo": "https://www.mturk.com"}
    page = app.test_client().get("/exp/open", query_string=args)
    yield app, task_config(page.data)["run"]["id"]
    dispose(app)


def dialect_class(app):
    with app.app_context():
        return type(db.engine.dialect)


def stored_text(app) -> str:
    """last_seen_at as SQLite holds it (the text, not the parsed value)."""
    with app.app_context():
        return db.session.scalar(text("SELECT last_seen_at FROM runs"))


def test_a_timestamp_is_stored_as_sqlalchemy_stores_it(app_with_run):
    app, run_id = app_with_run
    # A time given in another zone is stored as UTC, in SQLAlchemy's own text format.
    when = datetime(2026, 11, 22, 12, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    with app.app_context(), write_transaction() as connection:
        connection.execute(SEEN, {"run_id": run_id, "now": when})
    by_sqlalchemy = stored_text(app)
    with app.app_context(), write_transaction() as connection:
        connection.execute(SEEN, {"run_id": run_id, "now": datetime(2000, 1, 1, tzinfo=UTC)})
        statement = DriverStatement.compile(SEEN, dialect_class(app))
        assert statement.rows(connection, {"run_id": run_id, "now": when}) == [(run_id,)]
    assert stored_text(app) == by_sqlalchemy == "2026-11-22 10:30:05.123456"
    with app.app_context():
        assert db.session.get(Run, run_id).last_seen_at == when


def test_the_statement_binds_its_own_literals(app_with_run):
    app, run_id = app_with_run
    now = datetime.now(UTC)
    with app.app_context(), write_transaction() as connection:
        statement = DriverStatement.compile(SEEN, dialect_class(app))
        assert statement.literals == {"status_1": "in_progress"}
        connection.execute(update(Run).values(status=RunStatus.ABANDONED))
        assert statement.rows(connection, {"run_id": run_id, "now": now}) == []
        connection.execute(update(Run).values(status=RunStatus.IN_PROGRESS))
        assert statement.rows(connection, {"run_id": run_id, "now": now}) == [(run_id,)]


def test_a_driver_error_is_sqlalchemys_and_rolls_back(app_with_run):
    app, _ = app_with_run
    broken = DriverStatement.compile(text("UPDATE no_such_table SET x = :x"),
                                     dialect_class(app))
    with pytest.raises(OperationalError, match="no such table"), app.app_context(), \
            write_transaction() as connection:
        connection.execute(update(Run).values(record_count=99))
        broken.rows(connection, {"x": 1})
    with app.app_context():
        assert db.session.scalar(select(Run.record_count)) == 0


def test_an_insert_fills_the_columns_python_defaults_unless_given(app_with_run):
    app, _ = app_with_run
    insert_experiment = insert(ExperimentRow).values(slug=bindparam("slug"))
    statement = DriverStatement.compile(insert_experiment, dialect_class(app))
    given = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with app.app_context(), write_transaction() as connection:
        statement.rows(connection, {"slug": "defaulted"})
        statement.rows(connection, {"slug": "given", "previews": 7, "created_at": given})
    with app.app_context():
        rows = {row.slug: row for row in db.session.scalars(select(ExperimentRow))}
        assert rows["defaulted"].previews == 0
        assert utcnow() - rows["defaulted"].created_at < timedelta(minutes=1)
        assert (rows["given"].previews, rows["given"].created_at) == (7, given)


RECORD_COUNT = (update(Run).values(record_count=bindparam("count"))
                .returning(Run.record_count))


def test_statements_committed_together_answer_the_last_ones_rows(app, start_run):
    start_run()
    count = DriverStatement.compile(RECORD_COUNT, dialect_class(app))
    with app.app_context():
        rows = commit_together(db.session.connection(),
                               [(count, {"count": 5}), (count, {"count": 6})])
        db.session.rollback()  # what commit_together committed stands
        assert rows == [(6,)]
        assert db.session.scalar(select(Run.record_count)) == 6
        assert_the_session_commits_again()


def assert_the_session_commits_again() -> None:
    """The session's writes after commit_together are committed by its commit, not by
    themselves: a write rolled back does not stand."""
    db.session.execute(update(Run).values(next_seq=77))
    db.session.rollback()
    assert db.session.scalar(select(Run.next_seq)) != 77
    db.session.rollback()


def test_statements_committed_together_stand_or_fall_together(app, start_run):
    start_run()
    count = DriverStatement.compile(RECORD_COUNT, dialect_class(app))
    invalid = DriverStatement.compile(
        text("INSERT INTO runs (id) VALUES (:id)"), dialect_class(app))
    with app.app_context():
        with pytest.raises(IntegrityError):
            commit_together(db.session.connection(), [(count, {"count": 5}),
                                                      (invalid, {"id": 99})])
        db.session.rollback()
        assert db.session.scalar(select(Run.record_count)) == 0
        assert_the_session_commits_again()
        # The connection goes on serving.
        assert commit_together(db.session.connection(), [(count, {"count": 3})]) == [(3,)]


# PostgreSQL: what SQLAlchemy's own execution does with a lost or interrupted connection.

BACKEND = text("SELECT pg_backend_pid(), pg_sleep(:seconds)")


@pytest.fixture
def postgres_app():
    app = build_app(POSTGRES_URL)
    with app.app_context():
        yield app
    dispose(app)


def backend_of(connection, statement: DriverStatement) -> int:
    return statement.rows(connection, {"seconds": 0})[0][0]


def end_session(engine, pid: int) -> None:
    """End PostgreSQL's session ``pid`` from another connection, as a restart would."""
    with engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def run_alone(connection, statement: DriverStatement, parameters) -> None:
    statement.rows(connection, parameters)


def run_committed_together(connection, statement: DriverStatement, parameters) -> None:
    commit_together(connection, [(statement, parameters)])


@needs_postgres
@pytest.mark.parametrize("run", [run_alone, run_committed_together])
def test_a_connection_lost_mid_statement_is_invalidated(postgres_app, run):
    statement = DriverStatement.compile(BACKEND, dialect_class(postgres_app))
    engine = db.engine
    with engine.connect() as connection:
        pid = backend_of(connection, statement)
        connection.connection.commit()  # commit_together begins a transaction of its own
        ender = threading.Timer(0.3, end_session, (engine, pid))
        ender.start()
        with pytest.raises(OperationalError) as raised:
            run(connection, statement, {"seconds": 10})
        ender.join()
        assert raised.value.connection_invalidated
        assert connection.invalidated
    with db.engine.connect() as connection:  # the pool hands out a live one instead
        assert backend_of(connection, statement) != pid


class Interrupted(BaseException):
    """What gunicorn's worker timeout raises inside a request (a BaseException)."""


@needs_postgres
def test_a_statement_interrupted_before_its_rows_are_read_leaves_its_connection_unused(
        postgres_app, monkeypatch):
    statement = DriverStatement.compile(BACKEND, dialect_class(postgres_app))
    with db.engine.connect() as connection:
        pid = backend_of(connection, statement)

        def interrupted(_cursor):
            raise Interrupted

        monkeypatch.setattr(psycopg.Cursor, "fetchall", interrupted)
        with pytest.raises(Interrupted):
            statement.rows(connection, {"seconds": 0})
        monkeypatch.undo()
        assert connection.invalidated
    with db.engine.connect() as connection:
        assert backend_of(connection, statement) != pid


@needs_postgres
def test_a_connection_left_committing_each_statement_is_invalidated(postgres_app, monkeypatch):
    """commit_together's statements run with the driver's own transactions off. Should a
    statement fail and the rollback after it fail too, the connection, which would commit
    each statement as it ran, never serves again."""
    statement = DriverStatement.compile(BACKEND, dialect_class(postgres_app))
    invalid = DriverStatement.compile(text("SELECT 1 / 0"), dialect_class(postgres_app))
    with db.engine.connect() as connection:
        pid = backend_of(connection, statement)
        connection.connection.commit()

        def rollback_fails(_connection):
            raise psycopg.OperationalError("the rollback failed")

        monkeypatch.setattr(psycopg.Connection, "rollback", rollback_fails)
        with pytest.raises(DataError) as raised:
            commit_together(connection, [(invalid, {})])
        monkeypatch.undo()
        assert raised.value.connection_invalidated and connection.invalidated
    with db.engine.connect() as connection:
        assert backend_of(connection, statement) != pid
