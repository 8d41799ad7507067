"""The save path's SQL text: the batch insert on each database (:mod:`.records`) and the
plain saves on each (:mod:`.plain_saves`), with the guard's rules rendered from
:mod:`.run_guard` (so a rule is written once, whichever form runs it).

The batch travels as JSON text (and an array) that the database unpacks: a short statement,
compiled and parsed once, whatever the batch size (a multi-row VALUES list makes drivers
re-parse a long statement on every save). The data is stored verbatim as plain JSON text,
so every string JSON can carry ("\\u0000" included) survives. PostgreSQL gets the seqs as
an array beside the data, because its JSON operators cannot de-escape "\\u0000".
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, literal_column

from .run_guard import (
    as_text,
    claimed_in_progress,
    placeholder,
    requests_this_minute,
    seen_now,
    within_caps,
)

#: The batch's rows for ``trial_records``, as each database unpacks them.
BATCH_ROWS = {
    "postgresql": """
        SELECT :run_id, item.seq, item.data, :now
        FROM ROWS FROM (unnest(CAST(:seqs AS integer[])),
                        json_array_elements(CAST(:records AS json))) AS item(seq, data)""",
    "sqlite": """
        SELECT :run_id, json_extract(value, '$.seq'), json_extract(value, '$.data'), :now
        FROM json_each(:records)""",
}

#: What the batch insert answers per stored record: its seq, and on PostgreSQL (whose save
#: counts the stored bytes in the same statement) its data's bytes (``run_caps``).
INSERTED = {"postgresql": "seq, octet_length(CAST(data AS text)) AS size", "sqlite": "seq"}


def claimed_in_progress_sql(dialect: str) -> str:
    """:func:`.run_guard.claimed_in_progress` for the ``run_id`` and ``claimed_page``
    parameters."""
    return as_text(claimed_in_progress(placeholder("run_id"), placeholder("claimed_page")),
                   dialect)


@cache
def insert_batch(dialect: str) -> str:
    """Insert the batch once per seq; the EXISTS guard stores nothing unless the run is
    claimed and in progress."""
    return f"""
        INSERT INTO trial_records (run_id, seq, data, received_at) {BATCH_ROWS[dialect]}
        WHERE EXISTS (SELECT 1 FROM runs WHERE {claimed_in_progress_sql(dialect)})
        ON CONFLICT (run_id, seq) DO NOTHING
        RETURNING {INSERTED[dialect]}"""


@cache
def save_if_plain_postgresql() -> str:
    """PostgreSQL's saves that need no decision, several runs' at once (see
    :mod:`.plain_saves`).

    Each claimed run that is within its budget and holds none of its batch's seqs is locked,
    one after another in the order given (by id, so two of these statements never wait for
    each other in a cycle); then its records are inserted (no ON CONFLICT: a seq stored
    meanwhile fails the whole statement) and counted, as the transactional save's run update
    does (``run_guard.count_saved``). Each run appears once; the runs answered are the saves
    done. A run is also left alone if the batch would take it over its caps. Every step is
    one pass over the batch, whatever its size.
    """
    def sql(expression: ColumnElement[Any]) -> str:
        return as_text(expression, "postgresql")

    claimed = sql(claimed_in_progress(literal_column("claims.claimed_run"),
                                      literal_column("claims.claimed_page")))
    requests = sql(requests_this_minute(placeholder))
    caps = sql(within_caps(literal_column("claims.batch_size"),
                           literal_column("claims.batch_bytes"), placeholder))
    return f"""
    WITH claims AS (
        SELECT * FROM unnest(CAST(:run_ids AS integer[]), CAST(:pages AS text[]),
                             CAST(:batch_nexts AS integer[]), CAST(:batch_sizes AS integer[]),
                             CAST(:batch_bytes AS bigint[]))
            AS claim(claimed_run, claimed_page, batch_next, batch_size, batch_bytes)
    ), items AS (
        SELECT * FROM ROWS FROM (unnest(CAST(:item_runs AS integer[])),
                                 unnest(CAST(:seqs AS integer[])),
                                 json_array_elements(CAST(:records AS json)))
            AS item(item_run, seq, data)
    ), resent AS MATERIALIZED (
        SELECT DISTINCT items.item_run FROM items CROSS JOIN LATERAL (
            SELECT 1 FROM trial_records AS stored
            WHERE stored.run_id = items.item_run AND stored.seq = items.seq LIMIT 1
        ) AS stored
    ), locked AS (
        SELECT run.id, claims.batch_next, claims.batch_bytes
        FROM claims CROSS JOIN LATERAL (
            SELECT id FROM runs
            WHERE {claimed} AND {requests} <= :budget AND {caps}
              AND NOT EXISTS (SELECT 1 FROM resent WHERE resent.item_run = claims.claimed_run)
            FOR UPDATE
        ) AS run
    ), inserted AS (
        INSERT INTO trial_records (run_id, seq, data, received_at)
        SELECT items.item_run, items.seq, items.data, :now
        FROM items JOIN locked ON locked.id = items.item_run
        RETURNING run_id
    ), counted AS (
        SELECT run_id, count(*) AS stored FROM inserted GROUP BY run_id
    )
    UPDATE runs
    SET last_seen_at = {sql(seen_now(placeholder))},
        rate_count = {requests},
        rate_window = :window,
        record_count = record_count + coalesce(counted.stored, 0),
        stored_bytes = stored_bytes + locked.batch_bytes,
        next_seq = GREATEST(next_seq, locked.batch_next)
    FROM locked LEFT JOIN counted ON counted.run_id = locked.id
    WHERE runs.id = locked.id
    RETURNING runs.id, runs.record_count, runs.next_seq"""


@cache
def insert_if_plain_sqlite() -> str:
    """SQLite's save when it needs no decision (see :mod:`.plain_saves`): the whole batch,
    or nothing if the run is not claimed and in progress, is over its budget or caps, or
    holds one of the batch's seqs.

    SQLite reads the table it inserts into before inserting, and has one writer at a time,
    so the decision and the insert see the same state. The run update that follows is the
    transactional save's (``run_guard.count_saved``).
    """
    requests = as_text(requests_this_minute(placeholder), "sqlite")
    caps = as_text(within_caps(placeholder("batch_size"), placeholder("batch_bytes"),
                               placeholder), "sqlite")
    return f"""
    INSERT INTO trial_records (run_id, seq, data, received_at) {BATCH_ROWS["sqlite"]}
    WHERE EXISTS (SELECT 1 FROM runs WHERE {claimed_in_progress_sql("sqlite")}
                                     AND {requests} <= :budget AND {caps})
      AND NOT EXISTS (SELECT 1 FROM trial_records AS stored
                      WHERE stored.run_id = :run_id
                        AND stored.seq IN (SELECT json_extract(value, '$.seq')
                                           FROM json_each(:records)))
    RETURNING seq"""
