"""The save path's SQL text, built from shared parts: the batch insert on each database
(:mod:`records`) and the plain saves on each (:mod:`plain_saves`).

The batch travels as JSON text (and an array) that the database unpacks: a short statement,
compiled and parsed once, whatever the batch size (a multi-row VALUES list makes drivers
re-parse a long statement on every save). The data is stored verbatim as plain JSON text,
so every string JSON can carry ("\\u0000" included) survives. PostgreSQL gets the seqs as
an array beside the data, because its JSON operators cannot de-escape "\\u0000".
"""

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

#: The guard of the save: this run, from its latest page (the token's), still in progress.
CLAIMED_IN_PROGRESS = ("id = :run_id AND page_key = :claimed_page"
                       " AND status = 'in_progress'")

#: The run's ``last_seen_at`` after this request: moved on only when it is older than
#: ``:seen_before`` (``run_guard.seen_now`` says why).
SEEN_NOW = "CASE WHEN last_seen_at < :seen_before THEN :now ELSE last_seen_at END"

#: The run's requests this minute, this one included (``run_guard.in_progress_update``
#: counts them the same way on the transactional path).
REQUESTS_THIS_MINUTE = "CASE WHEN rate_window = :window THEN rate_count + 1 ELSE 1 END"

#: What the batch insert answers per stored record: its seq, and on PostgreSQL (whose save
#: counts the stored bytes in the same statement) its data's bytes (``run_caps``).
INSERTED = {"postgresql": "seq, octet_length(CAST(data AS text)) AS size", "sqlite": "seq"}

#: Insert the batch once per seq; the EXISTS guard stores nothing unless the run is claimed
#: and in progress.
INSERT_BATCH = {
    dialect: f"""
        INSERT INTO trial_records (run_id, seq, data, received_at) {rows}
        WHERE EXISTS (SELECT 1 FROM runs WHERE {CLAIMED_IN_PROGRESS})
        ON CONFLICT (run_id, seq) DO NOTHING
        RETURNING {INSERTED[dialect]}"""
    for dialect, rows in BATCH_ROWS.items()
}

#: A run may take a batch of ``records`` new records and ``bytes`` bytes of data only
#: within its caps (``run_caps``; ``run_guard.count_saved`` on the transactional path).
WITHIN_CAPS = ("record_count + {records} <= :max_records"
               " AND stored_bytes + {bytes} <= :max_bytes")

#: PostgreSQL's saves that need no decision, several runs' at once (see
#: :mod:`plain_saves`). Each claimed run that is within its budget and holds none of its
#: batch's seqs is locked, one after another in the order given (by id, so two of these
#: statements never wait for each other in a cycle); then its records are inserted (no ON
#: CONFLICT: a seq stored meanwhile fails the whole statement) and counted, as the
#: transactional save's run update does (``run_guard.count_saved``). Each run appears once;
#: the runs answered are the saves done. A run is also left alone if the batch would take
#: it over its caps (``run_caps``). Every step is one pass over the batch, whatever its size.
SAVE_IF_PLAIN = f"""
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
            WHERE id = claims.claimed_run AND page_key = claims.claimed_page
              AND status = 'in_progress' AND {REQUESTS_THIS_MINUTE} <= :budget
              AND {WITHIN_CAPS.format(records="claims.batch_size", bytes="claims.batch_bytes")}
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
    SET last_seen_at = {SEEN_NOW},
        rate_count = {REQUESTS_THIS_MINUTE},
        rate_window = :window,
        record_count = record_count + coalesce(counted.stored, 0),
        stored_bytes = stored_bytes + locked.batch_bytes,
        next_seq = GREATEST(next_seq, locked.batch_next)
    FROM locked LEFT JOIN counted ON counted.run_id = locked.id
    WHERE runs.id = locked.id
    RETURNING runs.id, runs.record_count, runs.next_seq"""


#: SQLite's save when it needs no decision (see :mod:`plain_saves`): the whole batch, or
#: nothing if the run is not claimed and in progress, is over its budget or caps, or holds
#: one of the batch's seqs. SQLite reads the table it inserts into before inserting, and has one
#: writer at a time, so the decision and the insert see the same state. The run update that
#: follows is the transactional save's (``run_guard.count_saved``).
INSERT_IF_PLAIN_SQLITE = f"""
    INSERT INTO trial_records (run_id, seq, data, received_at) {BATCH_ROWS["sqlite"]}
    WHERE EXISTS (SELECT 1 FROM runs WHERE {CLAIMED_IN_PROGRESS}
                                     AND {REQUESTS_THIS_MINUTE} <= :budget
                                     AND {WITHIN_CAPS.format(records=":batch_size",
                                                             bytes=":batch_bytes")})
      AND NOT EXISTS (SELECT 1 FROM trial_records AS stored
                      WHERE stored.run_id = :run_id
                        AND stored.seq IN (SELECT json_extract(value, '$.seq')
                                           FROM json_each(:records)))
    RETURNING seq"""
