"""Statements compiled once by SQLAlchemy and run on the DB-API cursor of a transaction.

The SQLite save runs two short statements. SQLAlchemy's execution of each (cache key,
parameter processing, result objects) cost more CPU than SQLite's own work: a whole save
took ~380 µs in process, SQLite's part ~90 µs (``bench/RESULTS.md``). A
:class:`DriverStatement` is compiled once by SQLAlchemy, with named parameters; each run
passes the parameters through their types' processors (the UTC timestamp) and hands the
statement to the driver.

It runs inside a SQLAlchemy transaction (:func:`database.write_transaction`), which still
begins, commits and rolls back. What it skips is SQLAlchemy's cursor events and its
invalidation of a connection lost mid-statement: that is why only SQLite uses it, which has
no server connection to lose. A driver error is raised as SQLAlchemy's own exception class
(``OperationalError`` for a locked database), so the app's handlers answer it as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True)
class DriverStatement:
    """One statement as the driver takes it, with what its parameters need on the way."""

    sql: str
    #: Values the statement itself binds (its literals), already processed.
    literals: Mapping[str, Any]
    #: The caller's parameters whose type converts them (name -> the type's processor).
    processors: Mapping[str, Callable[[Any], Any]]

    @classmethod
    def compile(cls, statement: Executable, dialect_class: type[Dialect]) -> DriverStatement:
        """Compile ``statement`` for the dialect, with named parameters (``:name``, as sqlite3
        takes them)."""
        dialect = dialect_class(paramstyle="named")
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
        return cls(compiled.string, literals, processors)

    def rows(self, connection: Connection, parameters: Mapping[str, Any]) -> list[Any]:
        """Run the statement in ``connection``'s transaction; the rows it returns."""
        values = {**self.literals, **parameters}
        for name, process in self.processors.items():
            values[name] = process(values[name])
        dbapi = connection.dialect.loaded_dbapi
        cursor = connection.connection.cursor()
        try:
            cursor.execute(self.sql, values)
            return cursor.fetchall()
        except dbapi.Error as error:
            raise DBAPIError.instance(self.sql, values, error, dbapi.Error,
                                      dialect=connection.dialect) from error
        finally:
            cursor.close()
