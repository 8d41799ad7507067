"""Exports: the pure row generators on awkward data, and the streamed downloads with filters."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from experiment_host.database import engine_options
from experiment_host.extensions import db
from experiment_host.models import Platform, RunStatus
from experiment_host.mturk.models import BonusPayment
from experiment_host.record_keys import OVERFLOW_COLUMN, TRIAL_RUN_COLUMNS, flatten
from experiment_host.researcher import streaming
from experiment_host.researcher.export import (
    RUN_COLUMNS,
    ExportOptions,
    MissingColumnError,
    RecordInfo,
    csv_chunks,
    escape_formula,
    trial_columns,
    trial_rows,
    unescape_formula,
)
from experiment_host.researcher.filters import RunFilter
from experiment_host.saving import ColumnSet
from tests.researcher.support import T0

LONG = "ß" * 100_000
AWKWARD = [
    {"trial_type": "html", "rt": 512, "text": 'comma, "quote"\nnewline\r\n', "ok": True},
    {"rt": None, "nested": {"a": 1, "b": {"c": "deep"}}, "list": [1, "two", {"x": None}],
     "extra": "ünïcødé 😀", "empty": {}},
    {"formula": "=HYPERLINK(\"http://x\")", "plus": "+1", "minus": "-2", "at": "@SUM(A1)",
     "tab": "\tx", "quote": "'kept", "neg": -3, "float": 0.1, "long": LONG, "nul": "a\u0000b"},
    {"condition": "from data", "seq": "shadow", "trial_type": "experiment-host-checkpoint",
     "timeline_node": 2},
]
OPTIONS = ExportOptions(pseudonym_key=b"k", pseudonymize=False, checkpoints=True)


def as_records(datas):
    return [RecordInfo(1, "basic", "mturk", "AW1", "AS1", "H1", "A", "completed", seq,
                       T0 + timedelta(seconds=seq), data) for seq, data in enumerate(datas)]


def registered(datas, max_columns=1000, checkpoints=True) -> list[str]:
    """The keys the registry gets from storing ``datas`` (with the overflow's place)."""
    columns = ColumnSet((), max_columns)
    columns.add_records(datas)
    return [c.name for c in columns.ordered()
            if c.in_trials or (checkpoints and c.in_checkpoints)]


def header(datas, **kwargs) -> list[str]:
    return trial_columns(registered(datas, **kwargs))


def csv_text(datas, options=OPTIONS, max_columns=1000) -> str:
    keys = registered(datas, max_columns)
    rows = trial_rows(as_records(datas), keys, options)
    return "".join(text for _, text in csv_chunks(trial_columns(keys), rows, chunk_chars=100))


def test_flatten_nests_with_dots_and_keeps_lists():
    assert flatten({"a": {"b": {"c": 1}, "d": [1, {"e": 2}]}, "f": {}}) == {
        "a.b.c": 1, "a.d": [1, {"e": 2}], "f": {}}


def test_columns_are_the_union_in_first_seen_order():
    columns = header(AWKWARD)
    data_columns = columns[len(TRIAL_RUN_COLUMNS):]
    assert data_columns[:8] == ["trial_type", "rt", "text", "ok", "nested.a", "nested.b.c",
                                "list", "extra"]
    assert "data.condition" in data_columns and "data.seq" in data_columns  # no clash
    assert len(set(columns)) == len(columns)


def test_flatten_takes_any_depth():
    data: dict = {"leaf": 1}
    for _ in range(5000):
        data = {"a": data}
    assert flatten(data) == {".".join(["a"] * 5000) + ".leaf": 1}


def test_keys_without_a_column_go_to_the_overflow_column():
    datas = [{"a": 1, "b": {"c": [1]}}, {"a": 2, "z": "=x", "y": None}]
    assert registered(datas, max_columns=2) == ["a", "b.c", OVERFLOW_COLUMN]
    rows = list(csv.DictReader(io.StringIO(csv_text(datas, max_columns=2), newline="")))
    assert rows[0][OVERFLOW_COLUMN] == "" and rows[0]["b.c"] == "[1]"
    assert json.loads(rows[1][OVERFLOW_COLUMN]) == {"z": "=x", "y": None}


def test_a_key_without_any_column_is_an_error_not_a_silent_loss():
    rows = trial_rows(as_records([{"a": 1}, {"a": 2, "b": 3}]), ["a"], OPTIONS)
    assert next(rows)[-1] == 1
    with pytest.raises(MissingColumnError, match="key 'b'"):
        next(rows)


def test_checkpoint_only_keys_have_no_column_without_checkpoints():
    datas = [{"rt": 1}, AWKWARD[3], {"condition": "x"}]
    assert header(datas, checkpoints=False)[len(TRIAL_RUN_COLUMNS):] == ["rt", "data.condition"]
    assert header(datas)[len(TRIAL_RUN_COLUMNS):] == [
        "rt", "data.condition", "data.seq", "trial_type", "timeline_node"]


@pytest.mark.parametrize("text", ["=1+2", "+1", "-2", "@A1", "\tx", "\rx", "'q", "plain", ""])
def test_formula_escape_is_reversible(text):
    escaped = escape_formula(text)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert unescape_formula(escaped) == text


def test_awkward_csv_round_trips_through_csv_module():
    text = csv_text(AWKWARD)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 4
    first, second, third, fourth = rows
    assert first["text"] == 'comma, "quote"\nnewline\r\n' and first["ok"] == "true"
    assert first["nested.a"] == "" and second["rt"] == "" and first["rt"] == "512"
    assert second["nested.b.c"] == "deep" and second["extra"] == "ünïcødé 😀"
    assert json.loads(second["list"]) == [1, "two", {"x": None}]
    assert second["empty"] == "{}"
    assert third["formula"] == "'=HYPERLINK(\"http://x\")" and third["plus"] == "'+1"
    assert third["minus"] == "'-2" and third["at"] == "'@SUM(A1)" and third["tab"] == "'\tx"
    assert third["quote"] == "''kept" and third["neg"] == "-3" and third["float"] == "0.1"
    assert third["long"] == LONG and third["nul"] == "a\u0000b"
    assert fourth["condition"] == "A" and fourth["data.condition"] == "from data"
    assert fourth["seq"] == "3" and fourth["data.seq"] == "shadow"
    assert {key: unescape_formula(value) for key, value in third.items()}["formula"] == \
        AWKWARD[2]["formula"]


def test_formula_escape_can_be_turned_off():
    options = ExportOptions(pseudonym_key=b"k", escape_formulas=False, checkpoints=True)
    row = list(csv.DictReader(io.StringIO(csv_text(AWKWARD, options), newline="")))[2]
    assert row["formula"] == AWKWARD[2]["formula"] and row["quote"] == "'kept"


def test_awkward_csv_round_trips_through_pandas():
    pandas = pytest.importorskip("pandas")
    text = csv_text([d for d in AWKWARD if "nul" not in d])
    frame = pandas.read_csv(io.StringIO(text), keep_default_na=False)
    assert list(frame.columns) == header([d for d in AWKWARD if "nul" not in d])
    assert frame.loc[0, "text"] == 'comma, "quote"\nnewline\r\n'
    assert frame.loc[1, "extra"] == "ünïcødé 😀" and frame.loc[1, "nested.b.c"] == "deep"
    assert list(frame["seq"]) == [0, 1, 2]


# --- over HTTP, on every database ------------------------------------------------------

def get(client, token, path, **query):
    return client.get(path, query_string=query, headers={"Authorization": f"Bearer {token}"})


def test_trials_csv_download(client, api_token, seed):
    seed(data=AWKWARD, worker="AWORKER1")
    seed(data=[{"rt": 1, "late": "x"}], condition="B", status=RunStatus.RETURNED)
    response = get(client, api_token, "/researcher/export/basic/trials.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="basic-trials.csv"'
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert len(rows) == 4  # the checkpoint record is left out of trials.csv by default
    assert rows[0]["worker_id"].startswith("anon_") and rows[0]["run_status"] == "completed"
    assert rows[2]["long"] == LONG and rows[3]["late"] == "x" and rows[0]["late"] == ""
    assert "timeline_node" not in rows[0]
    with_checkpoints = get(client, api_token, "/researcher/export/basic/trials.csv",
                           checkpoints="1", worker_ids="raw")
    rows = list(csv.DictReader(io.StringIO(with_checkpoints.get_data(as_text=True),
                                           newline="")))
    assert len(rows) == 5 and rows[3]["timeline_node"] == "2"
    assert rows[0]["worker_id"] == "AWORKER1"


def test_trials_jsonl_is_lossless(client, api_token, seed):
    run_id = seed(data=AWKWARD)
    response = get(client, api_token, "/researcher/export/basic/trials.jsonl")
    lines = response.get_data(as_text=True).splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["data"] for o in objects] == AWKWARD
    assert objects[0]["run_id"] == run_id and objects[3]["seq"] == 3
    assert objects[0]["received_at"] == "2026-05-01T12:00:00Z"


def test_runs_csv_columns(client, app, api_token, seed):
    seed(data=[{"a": 1}] * 3, minutes=7.5, completion_code="C123", bonus_cents=25,
         bonus_reason="=fast", status=RunStatus.APPROVED, outcome="screened_out")
    seed(status=RunStatus.IN_PROGRESS, condition="B", platform=Platform.PROLIFIC)
    with app.app_context():  # `flask hits bonus` paid the first run's assignment, in parts
        for cents in (20, 5):
            db.session.add(BonusPayment(endpoint=f"https://e{cents}", worker_id="AW00001",
                                        assignment_id="ASSIGN00001", amount_cents=cents,
                                        reason="r", request_token=f"t{cents}"))
        db.session.commit()
    response = get(client, api_token, "/researcher/export/basic/runs.csv")
    reader = csv.DictReader(io.StringIO(response.get_data(as_text=True), newline=""))
    assert tuple(reader.fieldnames) == RUN_COLUMNS
    first, second = list(reader)
    assert first["status"] == "approved" and first["duration_seconds"] == "450.0"
    assert first["n_trials"] == "3" and first["bonus_recorded_cents"] == "25"
    assert first["bonus_paid_cents"] == "25" and second["bonus_paid_cents"] == "0"
    assert first["outcome"] == "screened_out" and second["outcome"] == ""
    assert first["bonus_reason"] == "'=fast" and first["completion_code"] == "C123"
    assert first["created_at"] == "2026-05-01T12:00:00Z" and second["completed_at"] == ""
    assert second["platform"] == "prolific" and second["duration_seconds"] == ""


def test_completed_only_preset(client, logged_in, api_token, seed):
    keep = [seed(status=status, outcome="completed", data=[{"a": 1}])
            for status in (RunStatus.COMPLETED, RunStatus.APPROVED, RunStatus.REJECTED)]
    seed(status=RunStatus.COMPLETED, outcome="screened_out", data=[{"a": 2}])
    seed(status=RunStatus.IN_PROGRESS, data=[{"a": 3}])
    seed(status=RunStatus.RETURNED, data=[{"a": 4}])
    runs = get(client, api_token, "/researcher/export/basic/runs.csv", preset="completed")
    ids = [int(row["run_id"]) for row in csv.DictReader(io.StringIO(runs.get_data(as_text=True)))]
    trials = get(client, api_token, "/researcher/export/basic/trials.csv", preset="completed")
    assert ids == keep and trials.get_data(as_text=True).count("\n") == 4  # header + 3 rows
    page = logged_in.get("/researcher/experiments/basic").get_data(as_text=True)
    assert 'href="/researcher/export/basic/runs.csv?preset=completed"' in page
    for bad, problem in (({"preset": "finished"}, "Unknown preset"),
                         ({"preset": "completed", "status": "approved"}, "do not give")):
        answer = get(client, api_token, "/researcher/export/basic/runs.csv", **bad)
        assert answer.status_code == 400 and problem in answer.get_data(as_text=True)


def test_pseudonyms_are_stable_and_keyed(client, app, api_token, seed, make_app):
    seed(worker="SAME", data=[{"a": 1}])
    seed(worker="SAME", slug="open", condition="x", data=[{"a": 1}])
    one = get(client, api_token, "/researcher/export/basic/runs.csv").get_data(as_text=True)
    two = get(client, api_token, "/researcher/export/open/runs.csv").get_data(as_text=True)
    alias = next(csv.DictReader(io.StringIO(one)))["worker_id"]
    assert alias == next(csv.DictReader(io.StringIO(two)))["worker_id"]
    assert "SAME" not in one
    other_key = make_app(PSEUDONYM_KEY="another key").test_client()
    three = get(other_key, api_token, "/researcher/export/basic/runs.csv").get_data(as_text=True)
    assert alias not in three


def test_filters(client, api_token, seed):
    seed(data=[{"n": 1}], condition="A", status=RunStatus.APPROVED)
    seed(data=[{"n": 2}], condition="B", status=RunStatus.COMPLETED,
         start=T0 + timedelta(days=2))
    seed(data=[{"n": 3}], condition="B", platform=Platform.LINK, status=RunStatus.RETURNED)

    def values(kind="trials.csv", **query):
        text = get(client, api_token, f"/researcher/export/basic/{kind}", **query)
        return [row.get("n") or row["run_id"]
                for row in csv.DictReader(io.StringIO(text.get_data(as_text=True)))]

    assert values() == ["1", "2", "3"]
    assert values(status="approved,completed") == ["1", "2"]
    assert values(condition="B") == ["2", "3"]
    assert values(platform="link") == ["3"]
    assert values(since="2026-05-02") == ["2"]
    assert values(since="2026-05-03T12:00:30+00:00") == []
    assert len(values("runs.csv", since="2026-05-02T00:00:00Z")) == 1


@pytest.mark.parametrize("query, message", [
    ({"since": "yesterday"}, b"ISO 8601"),
    ({"status": "done"}, b"Unknown status"),
    ({"platform": "mechanical"}, b"Unknown platform"),
    ({"condition": "Z"}, b"Unknown condition"),
    ({"worker_ids": "hashed"}, b"worker_ids"),
    ({"escape_formulas": "maybe"}, b"escape_formulas"),
    ({"since": "0001-01-01T00:00:00+23:59"}, b"ISO 8601"),  # before year 1 in UTC
    ({"since": "9999-12-31T23:59:59-23:59"}, b"ISO 8601"),  # after year 9999 in UTC
])
def test_bad_filters_are_400(client, api_token, query, message):
    response = get(client, api_token, "/researcher/export/basic/trials.csv", **query)
    assert response.status_code == 400 and message in response.data


def test_unknown_experiment_or_kind_is_404(client, api_token):
    assert get(client, api_token, "/researcher/export/nope/trials.csv").status_code == 404
    assert get(client, api_token, "/researcher/export/basic/trials.xlsx").status_code == 404


def test_empty_export_has_header_only(client, api_token):
    response = get(client, api_token, "/researcher/export/basic/trials.csv")
    assert response.get_data(as_text=True) == ",".join(TRIAL_RUN_COLUMNS) + "\r\n"


DECODED: list[int] = []


def counting_loads(text: str) -> object:
    """json.loads that counts the records decoded (a plain function: psycopg warns on closures)."""
    DECODED.append(1)
    return json.loads(text)


def test_trials_csv_streams_rows_before_reading_every_record(seed, make_app, database_url,
                                                             monkeypatch):
    """The header comes from the registry: the first rows follow the first batch read."""
    monkeypatch.setattr(streaming, "BATCH_ROWS", 100)
    for _ in range(2):
        seed(data=[{"n": n, "text": "x" * 1000} for n in range(1000)])
    options = {**engine_options(database_url, 2), "json_deserializer": counting_loads}
    with make_app(SQLALCHEMY_ENGINE_OPTIONS=options).app_context():
        engine = db.engine
    DECODED.clear()
    chunks = streaming.export_chunks(engine, "trials.csv", "basic", RunFilter(),
                                     ExportOptions(pseudonym_key=b"k"))
    first_rows, text = next((rows, text) for rows, text in chunks if rows)
    assert 0 < first_rows < 100 and text.startswith(",".join(TRIAL_RUN_COLUMNS) + ",n,text\r\n")
    # Read so far: one batch (PostgreSQL's server-side cursor fetches one row before it), not
    # all 2,000 records as the header pass did.
    assert len(DECODED) <= 101
    assert first_rows + sum(rows for rows, _ in chunks) == 2000
    assert len(DECODED) == 2000


def test_exports_send_one_charset(client, api_token, seed):
    seed(data=[{"a": 1}])
    for kind, media in (("runs.csv", "text/csv"), ("trials.csv", "text/csv"),
                        ("trials.jsonl", "application/x-ndjson")):
        response = get(client, api_token, f"/researcher/export/basic/{kind}")
        assert response.headers["Content-Type"] == f"{media}; charset=utf-8"


def test_trials_csv_header_escapes_formula_keys_like_cells(client, api_token, seed):
    keys = ["=HYPERLINK(\"http://x\")", "@SUM(1)", "+1", "-1", "'q", "plain"]
    seed(data=[{key: 1 for key in keys}])
    text = get(client, api_token, "/researcher/export/basic/trials.csv").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(text)))[len(TRIAL_RUN_COLUMNS):]
    assert header == ["'" + key for key in keys[:-1]] + ["plain"]
    assert [unescape_formula(name) for name in header] == keys
    raw = get(client, api_token, "/researcher/export/basic/trials.csv", escape_formulas="0")
    assert next(csv.reader(io.StringIO(raw.get_data(as_text=True))))[len(TRIAL_RUN_COLUMNS):] \
        == keys
