"""Engine setup per dialect (SQLite pragmas, pool) and the few dialect-specific statements,
so the rest of the code reads the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from flask import Flask
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql import Insert
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from .extensions import db

SQLITE_BUSY_TIMEOUT_MS = 30_000


def engine_options(uri: str, pool_size: int) -> dict[str, Any]:
    """Options for ``create_engine`` suited to the database in ``uri``.

    ``pool_size`` is the number of threads per process (gunicorn.conf.py exports it as
    DATABASE_POOL_SIZE): one connection per thread, with a little overflow for the CLI.
    """
    if uri.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                "json_deserializer": loads_json}
    return {
        "pool_size": pool_size,
        "max_overflow": max(2, pool_size // 2),
        "pool_timeout": 10,
        "pool_recycle": 1800,
    }


_scan_json = json.JSONDecoder().scan_once


def loads_json(text: str) -> Any:
    """``json.loads(text)`` without its Python layers for text that is JSON and nothing else
    (as the app stores it): SQLite hands every JSON cell back as text, and an export of a
    million records decodes a million of them. Anything else takes ``json.loads``."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


#: A pooled connection idle for longer than this is pinged before use, so the first request
#: after a database restart gets a live one. One in steady use is not: a ping per request
#: costs the save path a round trip (bench/RESULTS-archive.md has what it cost). If a
#: connection in use breaks, its request answers 503 (the client retries) and SQLAlchemy
#: replaces every connection of the pool.
PING_AFTER_IDLE_SECONDS = 1.0


def _note_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _pinging_if_idle(dialect: Dialect) -> Any:
    """A pool ``checkout`` listener that pings a connection that has been idle for long."""

    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out another (three tries).
            raise DisconnectionError(f"an idle connection was lost: {error}") from error

    return ping_if_idle


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: One lock per process and SQLite database file (see :func:`write_transaction`).
_SQLITE_WRITERS: dict[str, threading.Lock] = {}


@contextmanager
def write_transaction() -> Iterator[Connection]:
    """A short write transaction on a Core connection: committed, or rolled back on error.

    On SQLite the threads of one process queue for it on a lock of their own. SQLite admits
    one writer at a time, and a thread that finds the database locked waits in SQLite's busy
    handler, which polls with sleeps of up to 100 ms: under load, most of that waiting is
    oversleeping. A thread waiting here is woken the moment the previous writer is done.
    Other processes (the CLI, a second gunicorn worker) still meet the busy timeout.
    """
    engine = db.engine
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    key = str(engine.url)
    lock = _SQLITE_WRITERS.get(key) or _SQLITE_WRITERS.setdefault(key, threading.Lock())
    # A writer that waited this long is stuck; let SQLite's own busy timeout report it.
    acquired = lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        if acquired:
            lock.release()


def _ping_idle_connections(engine: Engine) -> None:
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _pinging_if_idle(engine.dialect))


def init_app(app: Flask) -> None:
    """Bind the database; set SQLite's pragmas on every new connection, or ping a server
    database's connections that have been idle for long."""
    db.init_app(app)
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            _ping_idle_connections(engine)


#: How long a statement on the autocommit engine may run, lock waits included, and how long
#: its connection may go unanswered, before it fails (503; the clients resend): a process's
#: saves queue behind its group's statement, so a stuck one must not hold them for long.
AUTOCOMMIT_STATEMENT_TIMEOUT_MS = 10_000


def autocommit_engine(app: Flask) -> Engine:
    """A small PostgreSQL engine of its own whose connections are in autocommit mode for
    good, for statements that commit themselves (switching a pooled connection there and
    back costs more Python than such a statement's own execution)."""
    timeout = AUTOCOMMIT_STATEMENT_TIMEOUT_MS
    # Its statements' plans do not depend on their parameters' values (every lookup is by
    # key), so each is planned once per connection rather than at every execution.
    settings = f"-c statement_timeout={timeout} -c plan_cache_mode=force_generic_plan"
    options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_size": 1, "max_overflow": 2,
               "connect_args": {"options": settings, "tcp_user_timeout": timeout}}
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], isolation_level="AUTOCOMMIT",
                           **options)
    _ping_idle_connections(engine)
    return engine


def _session_dialect() -> str:
    return db.session.get_bind().dialect.name


def _dialect_module(dialect: str) -> Any:
    """The dialect module whose ``insert`` has ``on_conflict_*`` (SQLite or PostgreSQL)."""
    return postgresql if dialect == "postgresql" else sqlite


def insert_ignoring_duplicates(model: Any, rows: list[dict[str, Any]],
                               conflict_columns: list[str]) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the current database."""
    insert = _dialect_module(_session_dialect()).insert(model)
    return insert.values(rows).on_conflict_do_nothing(index_elements=conflict_columns)


def increment(model: Any, keys: dict[str, Any], column: str) -> int:
    """Add one to ``column`` of the row ``keys``, inserting it with 1; the new value.

    One statement, which also locks the row until the transaction ends (PostgreSQL) or
    takes the database write lock (SQLite). It is built once per table, key columns and
    database, and takes the keys as parameters: every arrival runs two of these.
    """
    statement = increment_statement(model, tuple(keys), column, _session_dialect())
    return db.session.execute(statement, keys).scalar_one()


@cache
def increment_statement(model: Any, key_columns: tuple[str, ...], column: str,
                        dialect: str) -> Insert:
    """The statement behind :func:`increment`, for ``dialect`` (built once)."""
    table = model.__table__  # a Core insert: the ORM's bulk machinery adds only cost here
    counter = table.c[column]
    statement = _dialect_module(dialect).insert(table).values(
        {**{name: bindparam(name) for name in key_columns}, column: 1})
    return statement.on_conflict_do_update(
        index_elements=list(key_columns), set_={column: counter + 1}
    ).returning(counter)


class _ReadableJSON(FunctionElement[Any]):
    """A JSON column as PostgreSQL's JSON operators can read it (see :func:`json_text`)."""

    type = JSON()
    name = "readable_json"
    inherit_cache = True


@compiles(_ReadableJSON)
def _json_as_stored(element: _ReadableJSON, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_ReadableJSON, "postgresql")
def _json_without_nul_escapes(element: _ReadableJSON, compiler: SQLCompiler, **kw: Any) -> str:
    data = compiler.process(element.clauses, **kw)
    return (f"(CASE WHEN strpos({data}::text, '\\u0000') = 0 THEN {data} "
            f"ELSE replace({data}::text, '\\u0000', '\\ufffd')::json END)")


def json_text(column: Any, *path: str) -> ColumnElement[str]:
    """The text at ``path`` in a JSON column, in SQL. PostgreSQL's operators de-escape every
    string of the document and fail on "\\u0000", which ``json`` stores and any participant
    can send; there they read a copy with that escape made U+FFFD."""
    return _ReadableJSON(column)[path if len(path) > 1 else path[0]].as_string()
