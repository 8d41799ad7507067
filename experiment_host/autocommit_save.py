"""PostgreSQL's everyday saves: one statement that commits on its own, shared by the saves
that arrive together.

Most saves need no decision: the run is in progress under the token's session, within its
request budget, and none of the batch's seqs is stored yet. Such saves are one statement in
autocommit mode (no ``BEGIN``, no ``COMMIT``), and the saves that other requests of the same
process make while it runs wait and go together in the next one (:mod:`group_commit`): one
round trip and one commit for all of them, instead of three round trips and a commit each.
Under load, the work around a statement (round trip, commit, wake-ups) costs the app and
PostgreSQL more than the statement's own (bench/RESULTS.md).

The statement stores a run's batch only if all of that holds, and answers only the runs it
stored. It locks each run's row before it checks the run, so a concurrent completion or save
is seen. A seq that a concurrent request stores meanwhile fails the plain ``INSERT`` (a
unique violation), which undoes the whole statement. A save that was not stored, for
whatever reason, is saved the transactional way by its own request, which explains any
refusal, compares resent records, and changes nothing when it fails. So one worker's save
can delay another's by a statement, but never decides it: only a lost database fails them
together (each answers 503 and its client resends).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from flask import Flask, current_app
from sqlalchemy import Engine, TextClause, bindparam, text
from sqlalchemy.exc import DataError, IntegrityError

from .database import autocommit_engine
from .group_commit import GroupCommit
from .models import UTCDateTime, utcnow
from .save_sql import SAVE_IF_PLAIN


@dataclass(frozen=True)
class PlainSave:
    """One request's save as the statement takes it."""

    run_id: int
    session_key: str
    seqs: list[int]
    records: str  # a JSON array of the records' data, in the order of ``seqs``
    batch_next: int  # one past the batch's highest seq


Counters = tuple[int, int]  # the run's records saved and next seq, after the save


class PlainSaves:
    """The app's plain saves: their engine (autocommit) and their group commit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.group: GroupCommit[PlainSave, Counters | None] = GroupCommit(self.save_all)

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
        with self.engine.connect() as connection:
            try:
                rows = connection.execute(_statement(), _parameters(plain)).all()
            except (IntegrityError, DataError):  # e.g. a seq stored meanwhile
                return [None] * len(saves)
        stored = {run_id: (record_count, next_seq) for run_id, record_count, next_seq in rows}
        return [stored.get(save.run_id) if firsts[save.run_id] is save else None
                for save in saves]


@cache
def _statement() -> TextClause:
    return text(SAVE_IF_PLAIN).bindparams(bindparam("now", type_=UTCDateTime()))


def _parameters(saves: Sequence[PlainSave]) -> dict[str, object]:
    return {
        "run_ids": [save.run_id for save in saves],
        "sessions": [save.session_key for save in saves],
        "batch_nexts": [save.batch_next for save in saves],
        "item_runs": [save.run_id for save in saves for _ in save.seqs],
        "seqs": [seq for save in saves for seq in save.seqs],
        # The saves' arrays as one, without serialising the records again.
        "records": "[" + ",".join(save.records[1:-1] for save in saves if save.seqs) + "]",
        "now": utcnow(),
        "window": int(time.time() // 60),
        "budget": current_app.config["RUN_REQUESTS_PER_MINUTE"],
    }


def save_if_plain(save: PlainSave) -> Counters | None:
    """Store and count ``save``, committed, together with the saves that other requests of
    this process make meanwhile, if it needs no decision; the run's counters after it, or
    None if it was not stored (nothing of it changed)."""
    plain_saves: PlainSaves = current_app.extensions["plain_saves"]
    return plain_saves.group.submit(save)


def init_app(app: Flask) -> None:
    """Give a PostgreSQL app its plain saves."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.extensions["plain_saves"] = PlainSaves(autocommit_engine(app))
