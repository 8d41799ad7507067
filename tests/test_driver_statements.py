"""driver_statements: the save statements on the driver's cursor store exactly what
SQLAlchemy's own execution of the same statements stores, and a connection lost or left
mid-statement is never used again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import OperationalError

from experiment_host.database import write_transaction
from experiment_host.driver_statements import DriverStatement
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus, UTCDateTime
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


@needs_postgres
def test_a_connection_lost_mid_statement_is_invalidated(postgres_app):
    statement = DriverStatement.compile(BACKEND, dialect_class(postgres_app))
    engine = db.engine
    with engine.connect() as connection:
        pid = backend_of(connection, statement)

        def end_that_session() -> None:
            with engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        ender = threading.Timer(0.3, end_that_session)
        ender.start()
        with pytest.raises(OperationalError) as raised:
            statement.rows(connection, {"seconds": 10})
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
