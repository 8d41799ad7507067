"""Plain saves: the everyday save, written together with the ones that arrive with it.

Most saves need no decision: the run is in progress and the token's page is its latest, within its
request budget, and none of the batch's seqs is stored yet. The saves that the requests of
one process make at the same moment are written together (:mod:`group_commit`), so one
commit carries several workers' records instead of one each:

- PostgreSQL: one statement in autocommit mode (no ``BEGIN``, no ``COMMIT``) for all of
  them: one round trip and one commit instead of three round trips and a commit each.
  Under load, the work around a statement (round trip, commit, wake-ups) costs the app and
  PostgreSQL more than the statement's own (bench/RESULTS.md). Under gevent, each write
  first lets the process handle the requests it has already received (those that save
  join the write); a quiet process has none, so its save is written at once. The
  statement locks each run's row before it checks the run, so a concurrent completion or
  save is seen; a seq that a concurrent request stores meanwhile fails the whole
  statement (a unique violation), which then changes nothing.
- SQLite: one transaction, with each save's insert and run update in it. A caller that
  finds nobody writing first lets the requests already read by its process reach their
  save (SQLite's calls never wait on the network, so nothing else would gather them).

Each save is decided on its own: a save that was not stored, for whatever reason, is saved
the transactional way by its own request (:mod:`records`), which explains any refusal,
compares resent records, and changes nothing when it fails. So one worker's save can delay
another's by a statement, but never decides it: only a lost database fails them together
(each answers 503 and its client resends).

Each piece exists only for speed and can be switched off (``SPEEDUP_*``, docs/operations.md)
so that ``bench/save_path.py --ablate`` measures what it earns: the plain saves themselves,
their group commit (off: each save is written alone), the gather, and PostgreSQL's
autocommit engine (off: the app's pool, in a transaction).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Dialect, Engine, bindparam, text
from sqlalchemy.exc import DataError, IntegrityError

from ..database import autocommit_engine, write_transaction
from ..driver_statements import DriverStatement
from ..models import UTCDateTime
from .group_commit import GroupCommit, Writer, WrittenAlone
from .run_caps import cap_parameters
from .run_guard import count_saved_on_driver, this_moment
from .save_sql import insert_if_plain_sqlite, save_if_plain_postgresql


@dataclass(frozen=True)
class PlainSave:
    """One request's save as the statements take it."""

    run_id: int
    page_key: str
    seqs: list[int]
    records: str  # the batch as JSON, as :func:`records.batch_parameters` builds it
    batch_next: int  # one past the batch's highest seq
    batch_bytes: int  # the records' data bytes (:mod:`run_caps`)


Counters = tuple[int, int]  # the run's records saved and next seq, after the save


def _moment() -> dict[str, Any]:
    return {**this_moment(), **cap_parameters(),
            "budget": current_app.config["RUN_REQUESTS_PER_MINUTE"]}


def _writer(write: Callable[[Sequence[PlainSave]], Sequence[Counters | None]],
            grouped: bool, gather: Callable[[], None] | None,
            gather_every_write: bool = False) -> Writer[PlainSave, Counters | None]:
    """The plain saves' group commit, or each save written alone (``SPEEDUP_GROUP_COMMIT``
    off)."""
    if not grouped:
        return WrittenAlone(write)
    return GroupCommit(write, gather=gather, gather_every_write=gather_every_write)


class PostgresPlainSaves:
    """PostgreSQL's plain saves: an engine of their own (autocommit) and their group."""

    def __init__(self, engine: Engine | None, grouped: bool = True,
                 gathered: bool = True) -> None:
        #: None: the app's engine, one transaction per write (``SPEEDUP_AUTOCOMMIT_ENGINE``
        #: off).
        self.engine = engine
        gather = _handle_received_requests if gathered and _under_gevent() else None
        self.group = _writer(self.save_all, grouped, gather, gather_every_write=True)

    def close(self) -> None:
        """Close the engine's connections (the autocommit engine's: the app's is the app's)."""
        if self.engine is not None:
            self.engine.dispose()

    def save_all(self, saves: Sequence[PlainSave]) -> list[Counters | None]:
        """Store and count, committed, every save that needs no decision; per save its
        run's counters after it, or None if it was not stored (nothing of it changed).

        A run's second save in ``saves`` is not stored here: one statement updates a run
        once. Runs are locked in the order of their ids.
        """
        firsts: dict[int, PlainSave] = {}
        for save in saves:
            firsts.setdefault(save.run_id, save)
        plain = sorted(firsts.values(), key=lambda save: save.run_id)
        try:
            with (self.engine.connect() if self.engine is not None else write_transaction()
                  ) as connection:
                rows = _statement(type(connection.dialect)).rows(connection, _parameters(plain))
        except (IntegrityError, DataError):  # e.g. a seq stored meanwhile
            return [None] * len(saves)
        stored = {run_id: (record_count, next_seq) for run_id, record_count, next_seq in rows}
        return [stored.get(save.run_id) if firsts[save.run_id] is save else None
                for save in saves]


@cache
def _statement(dialect_class: type[Dialect]) -> DriverStatement:
    """The grouped save, for the driver's cursor (:mod:`experiment_host.driver_statements`)."""
    statement = text(save_if_plain_postgresql()).bindparams(bindparam("now", type_=UTCDateTime()),
                                               bindparam("seen_before", type_=UTCDateTime()))
    return DriverStatement.compile(statement, dialect_class)


def _integers(values: Iterable[int]) -> str:
    """PostgreSQL's array literal of these whole numbers, e.g. ``{1,2,3}``: psycopg passes
    it as text, which the statement casts to ``integer[]``: psycopg's list dumper cost more
    of the app's CPU."""
    return "{" + ",".join(map(str, values)) + "}"


def _parameters(saves: Sequence[PlainSave]) -> dict[str, object]:
    return {
        "run_ids": _integers(save.run_id for save in saves),
        "pages": [save.page_key for save in saves],
        "batch_nexts": _integers(save.batch_next for save in saves),
        "batch_sizes": _integers(len(save.seqs) for save in saves),
        "batch_bytes": _integers(save.batch_bytes for save in saves),
        "item_runs": _integers(save.run_id for save in saves for _ in save.seqs),
        "seqs": _integers(seq for save in saves for seq in save.seqs),
        # The saves' arrays as one, without serialising the records again.
        "records": "[" + ",".join(save.records[1:-1] for save in saves if save.seqs) + "]",
        **_moment(),
    }


class SqlitePlainSaves:
    """SQLite's plain saves: their group, gathered before each write."""

    def __init__(self, grouped: bool = True, gathered: bool = True) -> None:
        self.group = _writer(self.save_all, grouped,
                             _let_ready_requests_in if gathered else None)

    def close(self) -> None:
        """Nothing to close: SQLite's plain saves use the app's engine."""

    def save_all(self, saves: Sequence[PlainSave]) -> list[Counters | None]:
        """Store and count, in one transaction, every save that needs no decision; per save
        its run's counters after it, or None if it was not stored (nothing of it changed)."""
        moment = _moment()
        answers: list[Counters | None] = []
        with write_transaction() as connection:
            insert = _sqlite_insert(type(connection.dialect))
            count = count_saved_on_driver(type(connection.dialect))
            for save in saves:
                parameters = {"run_id": save.run_id, "claimed_page": save.page_key,
                              "records": save.records, "batch_next": save.batch_next,
                              "batch_size": len(save.seqs), "batch_bytes": save.batch_bytes,
                              "inserted_bytes": save.batch_bytes, **moment}
                try:
                    stored = len(insert.rows(connection, parameters))
                except (IntegrityError, DataError):  # SQLite undoes just that statement
                    stored = 0
                if stored == 0:
                    answers.append(None)
                    continue
                counted = count.rows(connection, {**parameters, "inserted": stored})
                if stored != len(save.seqs) or not counted:  # the statement's own guard
                    raise RuntimeError(f"run {save.run_id}: a plain save stored {stored} of "
                                       f"{len(save.seqs)} records; nothing kept")
                answers.append((counted[0][1], counted[0][2]))
        return answers


@cache
def _sqlite_insert(dialect_class: type[Dialect]) -> DriverStatement:
    insert = text(insert_if_plain_sqlite()).bindparams(bindparam("now", type_=UTCDateTime()))
    return DriverStatement.compile(insert, dialect_class)


def _let_ready_requests_in() -> None:
    """Yield once to the other requests of this process (a greenlet switch under gevent,
    a moment off the interpreter lock with threads), so those already read reach their save
    and join this write."""
    time.sleep(0)


#: The longest a write waits for its process to handle what it has received: a process
#: that receives requests faster than it handles them is never idle, and its saves must
#: still be written.
GATHER_AT_MOST = 0.01


def _under_gevent() -> bool:
    """Whether this process runs its requests in greenlets (gunicorn's gevent workers)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def _handle_received_requests() -> None:
    """Wait until this gevent process has handled every event already pending (at most
    ``GATHER_AT_MOST``): each request whose bytes have arrived runs up to its save, which
    joins this write, or up to its next wait. A quiet process has nothing pending, so this
    returns after one turn of the event loop. Under load more saves share each PostgreSQL
    statement: the save flow's throughput rose by 11 to 20% (bench/RESULTS.md)."""
    import gevent

    with gevent.Timeout(GATHER_AT_MOST, False):
        gevent.idle()


def plain_saves() -> PostgresPlainSaves | SqlitePlainSaves:
    """The current app's plain saves."""
    return current_app.extensions["plain_saves"]


def plain_saves_on() -> bool:
    """Whether the current app offers its saves to the plain saves (``SPEEDUP_PLAIN_SAVES``)."""
    return current_app.config["SPEEDUP_PLAIN_SAVES"]


def save_if_plain(save: PlainSave) -> Counters | None:
    """Store and count ``save``, committed, together with the saves that other requests of
    this process make meanwhile, if it needs no decision; the run's counters after it, or
    None if it was not stored (nothing of it changed)."""
    return plain_saves().group.submit(save)


def init_app(app: Flask) -> None:
    """Give the app its plain saves, for its database, with the speed-ups it switches on."""
    config = app.config
    grouped, gathered = config["SPEEDUP_GROUP_COMMIT"], config["SPEEDUP_GATHER"]
    if not config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.extensions["plain_saves"] = SqlitePlainSaves(grouped, gathered)
        return
    engine = autocommit_engine(app) if config["SPEEDUP_AUTOCOMMIT_ENGINE"] else None
    app.extensions["plain_saves"] = PostgresPlainSaves(engine, grouped, gathered)

