"""The guarded update of a claimed run, which every hot-path write ends with.

A worker's request names its run through the signed token's claim (run id and platform
session). Each write updates that run only while it is still in progress under that
session, and counts the request against the run's budget in the same statement: seen now,
one more request this minute. Saving (:mod:`records`, :mod:`plain_saves`) also counts the
records stored; completing (:mod:`completion`) has its own conditions.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Dialect, Update, and_, bindparam, case, update

from . import rate_limits
from .driver_statements import DriverStatement
from .models import Run, RunStatus, UTCDateTime, utcnow
from .tokens import RunClaim


def claimed_in_progress() -> Any:
    """The guard of every hot-path statement: this run, this session, still in progress."""
    return and_(Run.id == bindparam("run_id"), Run.session_key == bindparam("claimed_session"),
                Run.status == RunStatus.IN_PROGRESS)


def in_progress_update(**values: Any) -> Update:
    """Update the claimed in-progress run: seen now, one more request this minute, ``values``."""
    window = bindparam("window")
    return (
        update(Run)
        .where(claimed_in_progress())
        .values(
            last_seen_at=bindparam("now", type_=UTCDateTime()),
            rate_count=case((Run.rate_window == window, Run.rate_count + 1), else_=1),
            rate_window=window,
            **values,
        )
    )


def count_saved(inserted: Any) -> Update:
    """The save's run update: seen now, request budget, ``inserted`` more records; it answers
    the requests this minute, the records saved and the next seq."""
    batch_next = bindparam("batch_next")
    return in_progress_update(
        record_count=Run.record_count + inserted,
        next_seq=case((Run.next_seq < batch_next, batch_next), else_=Run.next_seq),
    ).returning(Run.rate_count, Run.record_count, Run.next_seq)


@cache
def count_saved_on_driver(dialect_class: type[Dialect]) -> DriverStatement:
    """:func:`count_saved` with the records stored as the ``inserted`` parameter, compiled
    once for SQLite's driver cursor (:mod:`driver_statements`)."""
    return DriverStatement.compile(count_saved(bindparam("inserted")), dialect_class)


def this_moment() -> dict[str, Any]:
    """The time parameters of the guarded update: now, and this minute's budget window."""
    return {"now": utcnow(), "window": rate_limits.current_window(60)}


def guard_parameters(claim: RunClaim) -> dict[str, Any]:
    """The guard's parameters for ``claim``, now."""
    return {"run_id": claim.run_id, "claimed_session": claim.session_key, **this_moment()}
