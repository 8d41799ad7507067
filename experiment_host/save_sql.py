"""The save path's SQL text, built from shared parts: the batch insert on each database
(:mod:`records`) and PostgreSQL's autocommitted save (:mod:`autocommit_save`).

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

#: The guard of the save: this run, under the token's session, still in progress.
CLAIMED_IN_PROGRESS = ("id = :run_id AND session_key = :claimed_session"
                       " AND status = 'in_progress'")

#: The run's requests this minute, this one included (``records._in_progress_update``
#: counts them the same way on the transactional path).
REQUESTS_THIS_MINUTE = "CASE WHEN rate_window = :window THEN rate_count + 1 ELSE 1 END"

#: Insert the batch once per seq; the EXISTS guard stores nothing unless the run is claimed
#: and in progress.
INSERT_BATCH = {
    dialect: f"""
        INSERT INTO trial_records (run_id, seq, data, received_at) {rows}
        WHERE EXISTS (SELECT 1 FROM runs WHERE {CLAIMED_IN_PROGRESS})
        ON CONFLICT (run_id, seq) DO NOTHING
        RETURNING seq"""
    for dialect, rows in BATCH_ROWS.items()
}

#: PostgreSQL's save when it needs no decision (see :mod:`autocommit_save`): lock the run
#: if it is claimed, within its budget and holds none of the seqs; then insert (no ON
#: CONFLICT: a seq stored meanwhile fails the whole statement) and count, as the
#: transactional save's run update does (``records._count_saved``).
SAVE_IF_PLAIN = f"""
    WITH locked AS (
        SELECT id FROM runs
        WHERE {CLAIMED_IN_PROGRESS}
          AND {REQUESTS_THIS_MINUTE} <= :budget
          AND NOT EXISTS (SELECT 1 FROM trial_records
                          WHERE run_id = :run_id AND seq = ANY(CAST(:seqs AS integer[])))
        FOR UPDATE
    ), inserted AS (
        INSERT INTO trial_records (run_id, seq, data, received_at) {BATCH_ROWS["postgresql"]}
        WHERE EXISTS (SELECT 1 FROM locked)
        RETURNING seq
    )
    UPDATE runs
    SET last_seen_at = :now,
        rate_count = {REQUESTS_THIS_MINUTE},
        rate_window = :window,
        record_count = record_count + (SELECT count(*) FROM inserted),
        next_seq = GREATEST(next_seq, :batch_next)
    WHERE id = (SELECT id FROM locked)
    RETURNING record_count, next_seq"""
