"""The guarded update of a claimed run, which every hot-path write ends with: defined once.

A worker's request names its run through the signed token's claim (run id and page key).
Each write updates that run only while it is still in progress and that page is still its
latest (a page served later, in another tab or after a reload, supersedes it), and counts
the request against the run's budget in the same statement: seen now, one more request
this minute. Saving also counts the records stored, within the run's caps; completing has
its own conditions. Each rule is one SQLAlchemy expression here; the SQL text of
:mod:`.save_sql` is rendered from the same functions (:func:`as_text`), with placeholders
for their parameters, so the two forms cannot drift apart.

``last_seen_at`` is kept to within :data:`SEEN_RESOLUTION`: a request moves it on only
when it is older than that. A run's other columns that every save changes (its counters,
stored bytes and request budget) are in no index, so most saves change no indexed column
of the row, and PostgreSQL rewrites the row within its page (a "HOT" update) instead of
adding a new entry to every index of the table for every save.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Dialect, Update, and_, bindparam, case, literal_column, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from .. import rate_limits
from ..driver_statements import DriverStatement
from ..models import Run, RunStatus, UTCDateTime, utcnow
from ..tokens import RunClaim

#: How stale ``last_seen_at`` may be: half the client's heartbeat interval, and a small
#: part of any abandonment window (minutes) or assignment duration.
SEEN_RESOLUTION = timedelta(seconds=15)

#: How a rule names a parameter: ``bindparam`` for SQLAlchemy's statements,
#: :func:`placeholder` for the SQL text.
Bind = Callable[..., ColumnElement[Any]]


def placeholder(name: str, type_: TypeEngine[Any] | None = None) -> ColumnElement[Any]:
    """The parameter ``name`` as the SQL text writes it (``:name``), for :func:`as_text`."""
    return literal_column(f":{name}", type_)


def as_text(expression: ColumnElement[Any], dialect: str) -> str:
    """``expression`` as SQL text for ``dialect``, its constants (statuses, 1) written in."""
    dialects = {"postgresql": postgresql.dialect, "sqlite": sqlite.dialect}
    return str(expression.compile(dialect=dialects[dialect](),
                                  compile_kwargs={"literal_binds": True}))


def claimed_in_progress(run_id: ColumnElement[Any] | None = None,
                        page: ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """The guard of every hot-path statement: this run, this page, still in progress
    (by default the ``run_id`` and ``claimed_page`` parameters)."""
    return and_(Run.id == (bindparam("run_id") if run_id is None else run_id),
                Run.page_key == (bindparam("claimed_page") if page is None else page),
                Run.status == RunStatus.IN_PROGRESS)


def seen_now(bind: Bind = bindparam) -> ColumnElement[Any]:
    """``last_seen_at`` after a request: now, unless it is within :data:`SEEN_RESOLUTION`
    of now already (then unchanged, so the row's indexed columns are untouched)."""
    return case((Run.last_seen_at < bind("seen_before", type_=UTCDateTime()),
                 bind("now", type_=UTCDateTime())), else_=Run.last_seen_at)


def requests_this_minute(bind: Bind = bindparam) -> ColumnElement[int]:
    """The run's requests this minute (the ``window``), this one included."""
    return case((Run.rate_window == bind("window"), Run.rate_count + 1), else_=1)


def one_more_request(bind: Bind = bindparam) -> dict[str, Any]:
    """The run's budget columns after one more request this minute (the ``window``)."""
    return {"rate_count": requests_this_minute(bind), "rate_window": bind("window")}


def within_caps(records: Any, data_bytes: Any, bind: Bind = bindparam) -> ColumnElement[bool]:
    """The run may take ``records`` more records of ``data_bytes`` bytes (:mod:`.run_caps`)."""
    return and_(Run.record_count + records <= bind("max_records"),
                Run.stored_bytes + data_bytes <= bind("max_bytes"))


def in_progress_update(**values: Any) -> Update:
    """Update the claimed in-progress run: seen now (to within :data:`SEEN_RESOLUTION`), one
    more request this minute, ``values``."""
    return (
        update(Run)
        .where(claimed_in_progress())
        .values(last_seen_at=seen_now(), **one_more_request(), **values)
    )


def request_counted() -> Update:
    """Count one request against the run's budget whatever its status (reads, bonus); it
    answers the requests this minute. Only the unindexed budget columns change."""
    return (update(Run).where(Run.id == bindparam("run_id")).values(**one_more_request())
            .returning(Run.rate_count))


def count_saved(inserted: Any, inserted_bytes: Any) -> Update:
    """The save's run update: seen now, request budget, ``inserted`` more records of
    ``inserted_bytes`` bytes, only within the run's caps; it answers the requests this
    minute, the records saved and the next seq."""
    batch_next = bindparam("batch_next")
    return in_progress_update(
        record_count=Run.record_count + inserted,
        stored_bytes=Run.stored_bytes + inserted_bytes,
        next_seq=case((Run.next_seq < batch_next, batch_next), else_=Run.next_seq),
    ).where(within_caps(inserted, inserted_bytes)
            ).returning(Run.rate_count, Run.record_count, Run.next_seq)


@cache
def count_saved_on_driver(dialect_class: type[Dialect]) -> DriverStatement:
    """:func:`count_saved` with the records stored as the ``inserted`` and
    ``inserted_bytes`` parameters, compiled once for SQLite's driver cursor
    (:mod:`experiment_host.driver_statements`)."""
    return DriverStatement.compile(count_saved(bindparam("inserted"),
                                               bindparam("inserted_bytes")), dialect_class)


def this_moment() -> dict[str, Any]:
    """The time parameters of the guarded update: now, the time before which ``last_seen_at``
    is moved on, and this minute's budget window."""
    now = utcnow()
    return {"now": now, "seen_before": now - SEEN_RESOLUTION,
            "window": rate_limits.current_window(60)}


def guard_parameters(claim: RunClaim) -> dict[str, Any]:
    """The guard's parameters for ``claim``, now."""
    return {"run_id": claim.run_id, "claimed_page": claim.page_key, **this_moment()}
