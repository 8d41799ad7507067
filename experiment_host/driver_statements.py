"""Statements compiled once by SQLAlchemy and run on the DB-API cursor of a connection.

The saves run short statements whose own work costs less than SQLAlchemy's execution of
them (cache key, execution context, parameter processing, result objects; the figures are in
``bench/RESULTS.md``). A :class:`DriverStatement` is compiled once by SQLAlchemy, with
named parameters; each run passes the parameters through their types' processors (the UTC
timestamp) and hands the statement to the driver.

It runs on a SQLAlchemy :class:`~sqlalchemy.Connection` (in its transaction, if it has
one), and keeps what matters of SQLAlchemy's error handling: a driver error is raised as
SQLAlchemy's own exception class (``OperationalError`` for a locked or lost database), so
the app's handlers answer it as usual, and a connection lost mid-statement, or left
mid-statement by an interruption (a worker's timeout), is invalidated so that the pool
never hands it out again. What it skips is SQLAlchemy's cursor events.

Both are speed-ups that must keep earning their lines (``bench/save_path.py --ablate``):
``SPEEDUP_DRIVER_STATEMENTS`` off runs each statement through SQLAlchemy instead, and
``SPEEDUP_PIPELINED_TRANSACTIONS`` off sends :func:`commit_together`'s statements one by
one in the driver's own transaction, then its commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from flask import current_app, has_app_context
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql.expression import Executable

#: The named parameter style of each driver: sqlite3's ``:name``, psycopg's ``%(name)s``.
NAMED_STYLE = {"sqlite": "named", "postgresql": "pyformat"}


@dataclass(frozen=True)
class DriverStatement:
    """One statement as the driver takes it, with what its parameters need on the way."""

    sql: str
    #: Values the statement itself binds (its literals), already processed.
    literals: Mapping[str, Any]
    #: The caller's parameters whose type converts them (name -> the type's processor).
    processors: Mapping[str, Callable[[Any], Any]]
    #: Columns an INSERT fills from their Python-side default (a value or a function) unless
    #: the caller passes them, as SQLAlchemy's own execution does.
    defaults: Mapping[str, ColumnDefault] = field(default_factory=dict)
    #: The statement as compiled, for SQLAlchemy's own execution (speed-up switched off).
    statement: Executable | None = field(default=None, compare=False)

    @classmethod
    def compile(cls, statement: Executable, dialect_class: type[Dialect]) -> DriverStatement:
        """Compile ``statement`` for the dialect, with named parameters."""
        dialect = dialect_class(paramstyle=NAMED_STYLE[dialect_class.name])
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        processors = {}
        for parameter, name in compiled.bind_names.items():
            process = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        literals = {}
        for name, value in compiled.params.items():
            if value is not None:  # a value the statement carries, not one the caller passes
                process = processors.pop(name, None)
                literals[name] = value if process is None else process(value)
        defaults = {column.key: column.default for column in compiled.insert_prefetch}
        return cls(compiled.string, literals, processors, defaults, statement)

    def values(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters as the driver takes them: the literals and defaults added, each
        converted."""
        values = {**self.literals, **parameters}
        for name, default in self.defaults.items():
            if name not in parameters:
                values[name] = default.arg(None) if default.is_callable else default.arg
        for name, process in self.processors.items():
            values[name] = process(values[name])
        return values

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Any]:
        """Run the statement on ``connection`` (in its transaction, if any); its rows."""
        if self.statement is not None and not _switched_on("SPEEDUP_DRIVER_STATEMENTS"):
            return list(connection.execute(self.statement, parameters).fetchall())
        return self._on_cursor(connection, parameters)

    def _on_cursor(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Any]:
        values = self.values(parameters)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(self.sql, values)
            return cursor.fetchall()
        except BaseException as error:
            _raise_as_sqlalchemy_error(connection, error, self.sql, values, cursor)
        finally:
            cursor.close()


def commit_together(connection: Connection,
                    steps: Sequence[tuple[DriverStatement, Mapping[str, Any]]]) -> list[Any]:
    """Run the statements in a transaction of their own and commit; the rows of the last one.

    ``connection`` must not have run anything in its current transaction (SQLAlchemy's
    may have begun: the driver's has not). On PostgreSQL, ``BEGIN``, the statements and
    ``COMMIT`` go in one round trip (psycopg's pipeline mode; the driver's own ``BEGIN``
    and commit would each take a round trip of their own, before and after the others):
    the server runs each as it comes, reading what committed before it began, and answers
    them all after the commit, so no row lock a statement takes is held while the app
    waits its turn to send the next one. Should one fail, nothing is committed, and the
    caller rolls back.
    SQLAlchemy's transaction on ``connection`` is left open with nothing in it; the
    session's next commit or rollback ends it.
    """
    driver = connection.connection.driver_connection
    if connection.dialect.name != "postgresql" or \
            not _switched_on("SPEEDUP_PIPELINED_TRANSACTIONS"):
        rows = [statement.rows(connection, parameters) for statement, parameters in steps]
        try:
            driver.commit()
        except BaseException as error:
            _raise_as_sqlalchemy_error(connection, error, "COMMIT", {})
        return rows[-1]
    return _pipelined(connection, driver, steps)


def _pipelined(connection: Connection, driver: Any,
               steps: Sequence[tuple[DriverStatement, Mapping[str, Any]]]) -> list[Any]:
    """:func:`commit_together` on PostgreSQL: ``BEGIN``, the statements and ``COMMIT`` in
    one round trip (psycopg's pipeline mode)."""
    prepared = [(statement.sql, statement.values(parameters)) for statement, parameters in steps]
    try:
        driver.autocommit = True  # the BEGIN and COMMIT below are the only ones sent
        with driver.pipeline():
            control = driver.cursor()
            control.execute("BEGIN")
            cursors = [driver.execute(sql, values) for sql, values in prepared]
            control.execute("COMMIT")
        rows = cursors[-1].fetchall()
    except BaseException as error:
        lost = _is_lost(connection, error) or not _end_own_transaction(driver)
        _raise_as_sqlalchemy_error(connection, error, *prepared[-1], lost=lost)
    driver.autocommit = False
    return rows


def _switched_on(speedup: str) -> bool:
    """Whether the current app runs with the speed-up ``speedup`` (on outside an app)."""
    return not has_app_context() or current_app.config.get(speedup, True)


def _end_own_transaction(driver: Any) -> bool:
    """After a statement of :func:`commit_together` failed on a live connection: roll back
    what it began and give the driver its own transactions back. False if that failed too
    (the connection must then be thrown away: it would commit each statement as it ran)."""
    try:
        driver.rollback()
        driver.autocommit = False
    except BaseException:  # an interruption too: the connection must not serve again
        return False
    return True


def _is_lost(connection: Connection, error: BaseException, cursor: Any = None) -> bool:
    """Whether ``error`` lost the connection, or left it mid-statement (any exception but
    the driver's own, such as a worker's timeout)."""
    return not isinstance(error, connection.dialect.loaded_dbapi.Error) or \
        connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)


def _raise_as_sqlalchemy_error(connection: Connection, error: BaseException, sql: str,
                               values: Mapping[str, Any], cursor: Any = None,
                               lost: bool | None = None) -> NoReturn:
    """Raise a driver error as SQLAlchemy's own exception class (any other exception as it
    is), and invalidate the connection if it was ``lost`` (by default: :func:`_is_lost`)."""
    dbapi = connection.dialect.loaded_dbapi
    if lost is None:
        lost = _is_lost(connection, error, cursor)
    if lost:
        connection.invalidate(error if isinstance(error, Exception) else None)
    if isinstance(error, dbapi.Error):
        raise DBAPIError.instance(sql, values, error, dbapi.Error, connection_invalidated=lost,
                                  dialect=connection.dialect) from error
    raise error
