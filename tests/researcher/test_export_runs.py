"""The trials exports make a run's columns once per run: each row must still carry its own
run's columns, whatever order the runs come in, and trials.jsonl's hand-joined lines must
be the JSON of the object they stand for."""

from __future__ import annotations

import json
from datetime import timedelta

from experiment_host.record_keys import TRIAL_RUN_COLUMNS
from experiment_host.researcher.export import (
    ExportOptions,
    RecordInfo,
    pseudonym,
    timestamp,
    trial_lines,
    trial_rows,
)
from tests.researcher.support import T0

RUNS = {1: ("mturk", "AW1", "AS1", "H1", "A", "approved"),
        2: ("prolific", "=PW2", "PS2", None, None, "returned")}
DATAS = [{"rt": 1, "text": "+x"}, {"rt": None, "list": [1, "ü"], "deep": {"a": {"b": 1.5}}},
         {"flag": True, "quote": "'q", "nul": "a\u0000b", "emoji": "😀"}]


def records() -> list[RecordInfo]:
    """Records of run 1, then run 2, then run 1 again (a run seen a second time)."""
    order = [1, 1, 2, 2, 1]
    return [RecordInfo(run_id, "basic", *RUNS[run_id][:5], RUNS[run_id][5], seq,
                       T0.replace(tzinfo=None) + timedelta(seconds=seq), DATAS[seq % 3])
            for seq, run_id in enumerate(order)]


def test_each_row_carries_its_own_runs_columns():
    options = ExportOptions(pseudonym_key=b"k")
    rows = list(trial_rows(records(), ["rt", "text", "list", "deep.a.b", "flag", "quote",
                                       "nul", "emoji"], options))
    for row, record in zip(rows, records(), strict=True):
        platform, worker, session, study, condition, status = RUNS[record.run_id]
        assert row[:10] == [record.run_id, "basic", platform,
                            pseudonym(b"k", platform, worker), session, study or "",
                            condition or "", status, record.seq, timestamp(record.received_at)]
    assert rows[0][11] == "'+x" and rows[4][11] == "" and rows[2][12] == ""


def test_a_naive_time_is_utc():
    assert timestamp(T0.replace(tzinfo=None)) == timestamp(T0) == "2026-05-01T12:00:00Z"
    assert timestamp(T0.replace(tzinfo=None, microsecond=5)) == "2026-05-01T12:00:00.000005Z"


def test_jsonl_lines_are_the_json_of_run_columns_and_data():
    options = ExportOptions(pseudonym_key=b"k", pseudonymize=False)
    for line, record in zip(trial_lines(records(), options), records(), strict=True):
        platform, worker, session, study, condition, status = RUNS[record.run_id]
        values = (record.run_id, "basic", platform, worker, session, study, condition, status,
                  record.seq, timestamp(record.received_at))
        expected = {**dict(zip(TRIAL_RUN_COLUMNS, values, strict=True)), "data": record.data}
        assert line == json.dumps(expected, ensure_ascii=False, separators=(",", ":")) + "\n"
