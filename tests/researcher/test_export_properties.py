"""Run properties (jsPsych's addProperties): on every row of their run in trials.csv."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from experiment_host.database import engine_options
from experiment_host.extensions import db
from experiment_host.record_keys import PROPERTIES_TYPE, TRIAL_RUN_COLUMNS
from experiment_host.researcher import streaming
from experiment_host.researcher.export import ExportOptions, RecordInfo, trial_rows, wanted
from experiment_host.researcher.filters import RunFilter
from experiment_host.researcher.properties import RunProperties
from tests.researcher.support import T0
from tests.researcher.test_export import DECODED, counting_loads, get, header


def props(**properties):
    return {"trial_type": PROPERTIES_TYPE, "properties": properties}


def record(run_id: int, seq: int, data: dict) -> RecordInfo:
    return RecordInfo(run_id, "basic", "mturk", f"AW{run_id}", f"AS{run_id}", "H1", "A",
                      "completed", seq, T0 + timedelta(seconds=seq), data)


def test_properties_are_laid_over_every_row_of_their_run_only():
    runs = {
        1: [{"rt": 1, "total": "own", "score.a": 0}, {"rt": 2, "score": {"b": 2}},
            props(total=5, score={"a": 1}), props(total=7)],
        2: [{"rt": 3}],
        3: [props(total=9), {"rt": 4, "total": None}],
    }
    records = [record(run_id, seq, data) for run_id, datas in runs.items()
               for seq, data in enumerate(datas)]
    properties = RunProperties((r.run_id, r.data) for r in records if r.data.get("trial_type"))
    options = ExportOptions(pseudonym_key=b"k")
    keys = ["rt", "total", "score.a", "score.b"]
    rows = [(row[0], row[len(TRIAL_RUN_COLUMNS):]) for row in trial_rows(
        wanted(records, options), keys, options, properties)]
    # A property wins over the record's own key (a nested object as a whole; a dotted key of
    # the record filling the same column), a later call over an earlier one (jsPsych).
    assert rows == [(1, [1, 7, 1, ""]), (1, [2, 7, 1, ""]), (2, [3, "", "", ""]),
                    (3, [4, 9, "", ""])]


def test_the_registry_gives_properties_their_columns_and_never_a_header_of_their_own():
    columns = header([{"rt": 1}, props(total=5, score={"a": 1}),
                      {"trial_type": PROPERTIES_TYPE, "properties": "not an object"}])
    assert columns[-5:] == ["rt", "total", "score.a", "trial_type", "properties"]
    assert "data.properties" not in columns


def csv_rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_trials_csv_shows_run_properties_on_every_row(client, api_token, seed):
    first = seed(data=[{"rt": 1}, {"rt": 2}, props(total=3, note="=1+1")], worker="AWORKER1")
    second = seed(data=[{"rt": 5}], condition="B")
    response = get(client, api_token, "/researcher/export/basic/trials.csv")
    rows = csv_rows(response)
    assert [(int(r["run_id"]), r["rt"], r["total"], r["note"]) for r in rows] == [
        (first, "1", "3", "'=1+1"), (first, "2", "3", "'=1+1"), (second, "5", "", "")]
    # Records received before `since` are left out, their run's properties are not.
    later = get(client, api_token, "/researcher/export/basic/trials.csv",
                since=(T0 + timedelta(seconds=1)).isoformat())
    assert [(r["rt"], r["total"]) for r in csv_rows(later)] == [("2", "3")]
    lines = get(client, api_token, "/researcher/export/basic/trials.jsonl").get_data(
        as_text=True).splitlines()
    assert json.loads(lines[2])["data"] == props(total=3, note="=1+1")  # stored as sent


def test_properties_saved_through_the_api_reach_the_export(client, api_token, start_run):
    config = start_run()
    token = config["token"]
    trials = [{"seq": 0, "data": {"rt": 1}}, {"seq": 1, "data": {"rt": 2}}]
    assert client.post("/api/records", json={"token": token, "records": trials}).status_code \
        == 200
    for seq, properties in ((2, props(total=2)), (3, props(total=4, bonus="yes"))):
        saved = client.post("/api/records", json={"token": token,
                                                  "records": [{"seq": seq, "data": properties}]})
        assert saved.status_code == 200, saved.get_json()
    rows = csv_rows(get(client, api_token, "/researcher/export/basic/trials.csv"))
    assert [(r["rt"], r["total"], r["bonus"]) for r in rows] == [("1", "4", "yes"),
                                                                ("2", "4", "yes")]


def test_trials_csv_with_properties_still_streams(seed, make_app, database_url, monkeypatch):
    monkeypatch.setattr(streaming, "BATCH_ROWS", 100)
    for run in range(2):
        seed(data=[*({"n": n, "text": "x" * 1000} for n in range(1000)), props(run=run)])
    options = {**engine_options(database_url, 2), "json_deserializer": counting_loads}
    with make_app(SQLALCHEMY_ENGINE_OPTIONS=options).app_context():
        engine = db.engine
    DECODED.clear()
    chunks = streaming.export_chunks(engine, "trials.csv", "basic", RunFilter(),
                                     ExportOptions(pseudonym_key=b"k"))
    first_rows, text = next((rows, text) for rows, text in chunks if rows)
    assert 0 < first_rows < 100 and ",n,text,run\r\n" in text
    assert len(DECODED) <= 101 + 2  # one batch of records, and the properties records
    rest = "".join(text for _, text in chunks)
    assert first_rows + rest.count("\r\n") == 2000
    assert rest.endswith(",999," + "x" * 1000 + ",1\r\n")
