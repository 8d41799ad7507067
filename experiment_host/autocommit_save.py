"""PostgreSQL's everyday save as one statement that commits on its own.

Most saves need no decision: the run is in progress under the token's session, within its
request budget, and none of the batch's seqs is stored yet. Such a save is one statement
in autocommit mode, with no ``BEGIN`` and no ``COMMIT``: one round trip to the database
instead of three. Under load every round trip costs the app, the kernel and PostgreSQL
more than its own work (bench/RESULTS.md).

The statement changes nothing unless all of that holds, and then answers no row. It locks
the run's row before it checks the run, so a concurrent completion or save is seen. A seq
that a concurrent request stores in the meantime fails the plain ``INSERT`` (a unique
violation), which undoes the whole statement. In both cases the caller saves the batch
the transactional way, which explains any refusal, compares resent records, and changes
nothing when it fails.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import UTCDateTime
from .save_sql import SAVE_IF_PLAIN


@cache
def _statement() -> TextClause:
    return text(SAVE_IF_PLAIN).bindparams(bindparam("now", type_=UTCDateTime()))


def save_if_plain(parameters: dict[str, Any], budget: int) -> tuple[int, int] | None:
    """Store the batch and count it, committed, if the save needs no decision; the run's
    records saved and next seq then, else None (nothing changed).

    ``parameters`` are those of the transactional save on PostgreSQL (guard, batch,
    ``batch_next``); ``budget`` is the run's requests per minute.
    """
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        try:
            row = connection.execute(_statement(), {**parameters, "budget": budget}).first()
        except IntegrityError:  # a seq stored meanwhile by a concurrent request
            return None
    return None if row is None else (row[0], row[1])
