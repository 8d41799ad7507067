"""The exports' fast paths must write exactly what the plain ones write: trials.csv's lines,
quoted cell by cell, must be what the csv module writes for the same rows, and PostgreSQL's
stream (libpq's chunked rows) must give the rows (and so the bytes) the server-side cursor
gives, whatever the filter."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import re
from datetime import timedelta

import pytest

from experiment_host.database import engine_options, loads_json
from experiment_host.extensions import db
from experiment_host.links.models import LinkEntry, LinkType
from experiment_host.links.store import batch_named, create_links
from experiment_host.models import Platform, RunStatus, TrialRecord
from experiment_host.record_keys import OVERFLOW_COLUMN, PROPERTIES_TYPE
from experiment_host.researcher import streaming
from experiment_host.researcher.csv_lines import csv_header, trial_csv_lines
from experiment_host.researcher.export import (
    ExportOptions,
    RecordInfo,
    csv_chunks,
    header_row,
    line_chunks,
    trial_columns,
    trial_rows,
)
from experiment_host.researcher.filters import RunFilter
from experiment_host.researcher.properties import RunProperties
from experiment_host.saving import ColumnSet
from tests.conftest import needs_postgres
from tests.researcher.support import T0, add_run

PIECES = ["", "a", ",", '"', "\n", "\r", "\r\n", " ", "'", "=", "-", "\t", "\\", "\\N",
          "\\.", "é", "😀", "\u0000", "\u2028", ";", "x,y", '""']


NUMBERS = [0, -3, 10**30, -(10**25), 0.1, 1e-07, 6e-05, -0.0, 1e300, float("inf"),
           float("nan")]


def random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if roll < 0.45:
        return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 3)))
    if roll < 0.65:
        return rng.choice(NUMBERS)
    if roll < 0.75:
        return rng.choice([True, False, None])
    if roll < 0.85:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 2))]
    if depth > 2:
        return {}
    return {rng.choice(["a", "b,c", '"q"']): random_value(rng, depth + 1)
            for _ in range(rng.randint(0, 2))}


def random_records(rng: random.Random, count: int) -> list[RecordInfo]:
    keys = ["rt", "=f", "x,y", 'say "hi"', "ü", "seq", "nested", "nested.a"]  # one clash
    return [RecordInfo(seq // 7, "basic", "mturk", f"W,{seq // 7}", f"S\"{seq}", None,
                       rng.choice(["A", "-B", None]), "completed", seq,
                       T0 + timedelta(seconds=seq, microseconds=rng.choice([0, 5])),
                       {rng.choice(keys): random_value(rng) for _ in range(rng.randint(0, 5))})
            for seq in range(count)]


def random_properties(rng: random.Random, runs: int) -> list[tuple[int, dict]]:
    """Properties records of some runs, some runs with several, their keys among the
    records' (so properties replace record keys, nested and dotted ones too)."""
    keys = ["rt", "=f", "nested", "nested.a", "new", "ü"]
    return [(run_id, props(**{rng.choice(keys): random_value(rng)
                              for _ in range(rng.randint(0, 3))}))
            for run_id in range(runs) for _ in range(rng.choice([0, 0, 1, 2]))]


@pytest.mark.parametrize("with_properties", [False, True])
@pytest.mark.parametrize("options", [
    ExportOptions(pseudonym_key=b"k"),
    ExportOptions(pseudonym_key=b"k", pseudonymize=False, escape_formulas=False)])
def test_csv_lines_are_what_the_csv_module_writes(options, with_properties):
    rng = random.Random(7)
    records = random_records(rng, 3000)
    laid = random_properties(rng, records[-1].run_id + 1) if with_properties else []
    columns = ColumnSet((), 5)  # few columns: the rest goes to the overflow column
    columns.add_records([*(record.data for record in records), *(data for _, data in laid)])
    keys = [column.name for column in columns.ordered()]
    assert OVERFLOW_COLUMN in keys
    header = header_row(trial_columns(keys), options)

    def run_properties():
        return RunProperties(laid) if with_properties else None

    by_csv_module = "".join(text for _, text in csv_chunks(
        header, trial_rows(records, keys, options, run_properties())))
    ours = "".join(text for _, text in line_chunks(
        trial_csv_lines(records, keys, options, run_properties()), chunk_chars=100,
        opening=csv_header(trial_columns(keys), options)))
    assert ours == by_csv_module
    if with_properties:  # the properties did change rows
        assert ours != "".join(text for _, text in line_chunks(
            trial_csv_lines(records, keys, options), opening=csv_header(trial_columns(keys),
                                                                        options)))
    assert sum(rows for rows, _ in line_chunks(trial_csv_lines(records, keys, options),
                                               chunk_chars=100)) == len(records)


# --- PostgreSQL: the streamed read against the server-side cursor -------------------------

TRICKY = [
    {"text": 'comma, "quote"\nnewline\r\n\ttab', "back": "C:\\dir\\N \\. \\\\", "ok": True,
     "none": None, "big": 123456789012345678901234567890, "small": 1e-07, "neg": -(2**70),
     "float": 6e-05, "uni": "ünïcødé 😀 \u2028", "nul": "a\u0000b", "formula": "=1+2"},
    {"nested": {"a": {"b": [1, {"c": None}]}, "e": {}}, "list": ["x", 2.5, [True]],
     "text": "", "quote": "'kept", "-": "-", "a.b": "dotted"},
    {"trial_type": "experiment-host-checkpoint", "timeline_node": 2, "text": "\\"},
]


@pytest.fixture
def tricky_runs(app):
    """Runs that each filter tells apart, with awkward records; one came through a batch."""
    add_tricky_runs(app, TRICKY)


@pytest.fixture
def tricky_runs_with_properties(app):
    """The tricky runs, each with run properties (awkward too) sent half-way through."""
    add_tricky_runs(app, [TRICKY[0], props(text='=p,"q"\n', nested={"a": {"b": 1}}),
                          TRICKY[1], props(text="later", extra=10**30), TRICKY[2]])


def props(**properties):
    return {"trial_type": PROPERTIES_TYPE, "properties": properties}


def add_tricky_runs(app, data):
    with app.app_context():
        kinds = [(RunStatus.COMPLETED, "A", Platform.MTURK, "completed", False),
                 (RunStatus.APPROVED, "B", Platform.PROLIFIC, "screened_out", False),
                 (RunStatus.RETURNED, "A", Platform.LINK, None, False),
                 (RunStatus.COMPLETED, "B", Platform.MTURK, "completed", True)]
        runs = []
        for number, (status, condition, platform, outcome, test) in enumerate(kinds):
            runs.append(add_run(data=data, status=status, condition=condition,
                                platform=platform, outcome=outcome, is_test=test,
                                worker=f"=W\"{number}\n", start=T0 + timedelta(days=number)))
        [link] = create_links(batch_named("basic", "Pilot 1.b", create=True),
                              LinkType("personal-single"), 1)
        db.session.flush()
        db.session.add(LinkEntry(run_id=runs[2].id, link_id=link.id))
        db.session.commit()


FILTERS = [
    RunFilter(),
    RunFilter(include_tests=True),
    RunFilter(statuses=(RunStatus.COMPLETED, RunStatus.RETURNED)),
    RunFilter(conditions=("B",)),
    RunFilter(platforms=(Platform.MTURK, Platform.LINK)),
    RunFilter(since=T0 + timedelta(days=1, seconds=1)),  # aware UTC, the column naive
    RunFilter(outcomes=("completed",), include_tests=True),
    RunFilter(batches=("Pilot 1.b",)),
    RunFilter(statuses=(RunStatus.COMPLETED,), conditions=("A", "B"), include_tests=True,
              since=T0, platforms=(Platform.MTURK,), outcomes=("completed",)),
]
OPTIONS = [ExportOptions(pseudonym_key=b"k"),
           ExportOptions(pseudonym_key=b"k", pseudonymize=False, escape_formulas=False,
                         checkpoints=True)]


@needs_postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_stream_reads_what_the_cursor_reads(tricky_runs, make_app, database_url, monkeypatch):
    # A session time zone far from UTC: a `since` bound without SQLAlchemy's processing
    # (aware, against a naive UTC column) would select other records.
    options = {**engine_options(database_url, 2),
               "connect_args": {"options": "-c timezone=Pacific/Kiritimati"}}
    with make_app(SQLALCHEMY_ENGINE_OPTIONS=options).app_context():
        engine = db.engine
    streams = []
    streamed = streaming._streamed

    def spy(connection, statement):
        streams.append(statement)
        return streamed(connection, statement)

    def export(kind, run_filter, export_options):
        chunks = streaming.export_chunks(engine, kind, "basic", run_filter, export_options)
        return "".join(text for _, text in chunks)

    monkeypatch.setattr(streaming, "_streamed", spy)
    by_stream = {(kind, f, o): export(kind, run_filter, export_options)
               for kind in ("trials.csv", "trials.jsonl")
               for f, run_filter in enumerate(FILTERS)
               for o, export_options in enumerate(OPTIONS)}
    assert len(streams) == len(by_stream)
    monkeypatch.setattr(streaming, "_streamed", streaming._stream)
    for (kind, f, o), text in by_stream.items():
        assert text == export(kind, FILTERS[f], OPTIONS[o]), (kind, FILTERS[f], o)
    lines = {f: by_stream["trials.jsonl", f, 1].count("\n") for f in range(len(FILTERS))}
    assert lines == {0: 9, 1: 12, 2: 6, 3: 3, 4: 6, 5: 5, 6: 6, 7: 3, 8: 6}


@needs_postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_streams_of_run_properties_read_what_two_cursors_read(
        tricky_runs_with_properties, make_app, database_url, monkeypatch):
    # trials.csv with run properties streams the records and the properties at once, each
    # on its own connection in one snapshot; before, two server-side cursors on one.
    with make_app(SQLALCHEMY_ENGINE_OPTIONS=engine_options(database_url, 2)).app_context():
        engine = db.engine
    streams = []
    streamed = streaming._streamed

    def spy(connection, statement):
        streams.append(connection.connection.dbapi_connection)
        return streamed(connection, statement)

    def export(run_filter, export_options):
        chunks = streaming.export_chunks(engine, "trials.csv", "basic", run_filter,
                                         export_options)
        return "".join(text for _, text in chunks)

    monkeypatch.setattr(streaming, "_streamed", spy)
    by_streams = {(f, o): export(run_filter, export_options)
                  for f, run_filter in enumerate(FILTERS)
                  for o, export_options in enumerate(OPTIONS)}
    assert len(streams) == 2 * len(by_streams)
    assert all(streams[i] is not streams[i + 1] for i in range(0, len(streams), 2))
    monkeypatch.setattr(streaming, "_streamed", streaming._stream)
    monkeypatch.setattr(streaming, "_reader_beside", contextlib.nullcontext)
    for (f, o), text in by_streams.items():
        assert text == export(FILTERS[f], OPTIONS[o]), (FILTERS[f], o)
    rows = list(csv.DictReader(io.StringIO(by_streams[0, 1], newline="")))
    assert [row["extra"] for row in rows] == [str(10**30)] * len(rows) == ["1" + "0" * 30] * 9
    assert {row["text"] for row in rows} == {"later"}


@needs_postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_properties_read_beside_the_records_come_from_the_same_snapshot(
        seed, make_app, database_url, monkeypatch):
    run_id = seed(data=[{"rt": 1}, props(total=1)])
    with make_app(SQLALCHEMY_ENGINE_OPTIONS=engine_options(database_url, 3)).app_context():
        engine = db.engine
    statement = streaming.properties_statement

    def properties_committed_meanwhile(*args):
        # Another request stores a later properties record once the export has begun.
        with engine.begin() as connection:
            connection.execute(TrialRecord.__table__.insert().values(
                run_id=run_id, seq=2, data=props(total=2), received_at=T0))
        return statement(*args)

    monkeypatch.setattr(streaming, "properties_statement", properties_committed_meanwhile)
    text = "".join(text for _, text in streaming.export_chunks(
        engine, "trials.csv", "basic", RunFilter(), ExportOptions(pseudonym_key=b"k")))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(row["rt"], row["total"]) for row in rows] == [("1", "1")]


@needs_postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_stream_stopped_half_way_leaves_the_connection_usable(seed, make_app, database_url):
    seed(data=[{"n": n, "text": "x" * 1000} for n in range(500)])
    with make_app(SQLALCHEMY_ENGINE_OPTIONS=engine_options(database_url, 1)).app_context():
        engine = db.engine  # one connection: the second export reuses the first's

    def chunks():
        return streaming.export_chunks(engine, "trials.jsonl", "basic", RunFilter(),
                                       ExportOptions(pseudonym_key=b"k"))

    started = chunks()
    first, _ = next((rows, text) for rows, text in started if rows)
    started.close()  # a download cut off
    assert 0 < first < 500
    assert sum(rows for rows, _ in chunks()) == 500


def test_csv_lines_take_any_nesting_depth():
    data: dict = {"leaf": 1}
    for _ in range(5000):
        data = {"a": data}
    records = random_records(random.Random(3), 2)
    records[1] = records[1]._replace(data=data)
    keys = ["a." * 5000 + "leaf", OVERFLOW_COLUMN]
    options = ExportOptions(pseudonym_key=b"k")
    lines = list(trial_csv_lines(records, keys, options))
    assert lines[1].endswith(",1,\r\n")
    header = header_row(trial_columns(keys), options)
    assert csv_header(trial_columns(keys), options) + "".join(lines) == "".join(
        text for _, text in csv_chunks(header, trial_rows(records, keys, options)))


@pytest.mark.parametrize("text", [
    '{"a": [1, 2.5, "x\\u0000y", null, true], "b": {"c": NaN}}', "12345678901234567890123",
    '"text"', " [1] ", "[1]\n", "[]", '{"a": 1} {"b": 2}', "", " ", "[1", "nope", "-Infinity"])
def test_sqlites_json_reader_reads_as_json_loads_does(text):
    try:
        expected = json.dumps(json.loads(text))
    except json.JSONDecodeError as error:
        with pytest.raises(json.JSONDecodeError, match=re.escape(error.msg)):
            loads_json(text)
    else:
        assert json.dumps(loads_json(text)) == expected


def test_sqlite_reads_json_columns_with_it(make_app):
    app = make_app(DATABASE_URL="sqlite:///:memory:")
    with app.app_context():
        assert db.engine.dialect._json_deserializer is loads_json
