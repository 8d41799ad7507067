"""The column registry: trials.csv columns registered at save time, on every database."""

from __future__ import annotations

import csv
import gc
import io
import json
import logging
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, text

from experiment_host.extensions import db
from experiment_host.models import ExperimentColumn
from experiment_host.record_keys import CHECKPOINT_TYPE, OVERFLOW_COLUMN, TRIAL_RUN_COLUMNS
from experiment_host.researcher.export import ExportOptions
from experiment_host.researcher.filters import RunFilter
from experiment_host.researcher.streaming import export_chunks
from experiment_host.saving import backfill_columns, column_registry
from tests.helpers import task_config

CHECKPOINT = {"trial_type": CHECKPOINT_TYPE, "timeline_node": 0, "time_elapsed": 10}


def save(client, config, datas, first_seq=0):
    """Save ``datas`` as records of the run, numbered from ``first_seq``."""
    body = {"token": config["token"],
            "records": [{"seq": first_seq + n, "data": d} for n, d in enumerate(datas)]}
    response = post(client, body)
    assert response.status_code == 200, response.get_json()
    return response


def post(client, body):
    """POST /api/records keeping the body's key order (``json=`` would sort the keys)."""
    return client.post("/api/records", data=json.dumps(body), content_type="application/json")


def registry(app, slug="basic") -> list[tuple[str, int, bool, bool]]:
    with app.app_context():
        rows = db.session.execute(
            select(ExperimentColumn.name, ExperimentColumn.position, ExperimentColumn.in_trials,
                   ExperimentColumn.in_checkpoints)
            .where(ExperimentColumn.experiment_slug == slug).order_by(ExperimentColumn.position))
        return [tuple(row) for row in rows]


def export(client, token, slug="basic", **query):
    """trials.csv as (header, rows)."""
    response = client.get(f"/researcher/export/{slug}/trials.csv", query_string=query,
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    reader = csv.reader(io.StringIO(response.get_data(as_text=True), newline=""))
    header, *rows = list(reader)
    return header, [dict(zip(header, row, strict=True)) for row in rows]


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """Collect the SQL statements the app executes meanwhile."""
    seen: list[str] = []

    def collect(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", collect)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", collect)


def test_header_comes_from_the_registry_with_awkward_data(app, client, start_run, api_token):
    run = start_run()
    save(client, run, [
        {"trial_type": "html", "rt": 500, "nested": {"a": 1, "b": {"c": "deep"}}},
        {"rt": 300, "list": [1, {"x": 2}], "empty": {}, "condition": "shadow"},
        CHECKPOINT,
        {"trial_type": "html", "late": True},
    ])
    other = start_run()
    save(client, other, [{"only_other": 1, "rt": 2}])
    header, rows = export(client, api_token)
    assert header == [*TRIAL_RUN_COLUMNS, "trial_type", "rt", "nested.a", "nested.b.c", "list",
                      "empty", "data.condition", "late", "only_other"]
    assert len(rows) == 4 and rows[1]["data.condition"] == "shadow" and rows[1]["empty"] == "{}"
    assert json.loads(rows[1]["list"]) == [1, {"x": 2}] and rows[3]["only_other"] == "1"
    header, rows = export(client, api_token, checkpoints="1")
    assert header == [*TRIAL_RUN_COLUMNS, "trial_type", "rt", "nested.a", "nested.b.c", "list",
                      "empty", "data.condition", "timeline_node", "time_elapsed", "late",
                      "only_other"]
    assert rows[2]["timeline_node"] == "0" and rows[2]["trial_type"] == CHECKPOINT_TYPE


def test_checkpoint_keys_also_in_trials_are_flagged_both(app, client, start_run, api_token):
    run = start_run()
    save(client, run, [CHECKPOINT, {"rt": 1}])
    assert registry(app) == [("trial_type", 0, False, True), ("timeline_node", 1, False, True),
                             ("time_elapsed", 2, False, True), ("rt", 3, True, False)]
    save(client, run, [{"time_elapsed": 5}], first_seq=2)
    assert registry(app)[2] == ("time_elapsed", 2, True, True)
    header, _ = export(client, api_token)
    assert header[len(TRIAL_RUN_COLUMNS):] == ["time_elapsed", "rt"]


def test_order_is_first_stored_and_stable_across_filters(app, client, start_run, api_token):
    first, second = start_run(), start_run()
    save(client, first, [{"b": 1, "a": 1}])
    save(client, second, [{"c": 1, "a": 2}])
    save(client, first, [{"d": 1}, {"b": 2}], first_seq=1)
    header, _ = export(client, api_token)
    assert header[len(TRIAL_RUN_COLUMNS):] == ["b", "a", "c", "d"]
    condition = second["run"]["condition"]
    # A filtered export keeps the whole experiment's header (files can be concatenated).
    filtered, rows = export(client, api_token, condition=condition)
    assert filtered == header and rows and all(row["condition"] == condition for row in rows)
    assert export(client, api_token, since="2100-01-01")[0] == header


def test_known_keys_cost_no_sql_and_new_keys_write(app, client, start_run):
    run = start_run()
    save(client, run, [{"rt": 1, "nested": {"x": 1}}])
    with statements(app) as seen:
        save(client, run, [{"rt": 2, "nested": {"x": 2}}], first_seq=1)
    assert not [s for s in seen if "experiment_columns" in s or "experiments" in s]
    with statements(app) as seen:
        save(client, run, [{"rt": 3, "new_key": 1}], first_seq=2)
    assert any("INSERT INTO experiment_columns" in s for s in seen)
    assert [name for name, *_ in registry(app)] == ["rt", "nested.x", "new_key"]


def test_resent_records_register_nothing(app, client, start_run):
    run = start_run()
    save(client, run, [{"rt": 1}])
    with statements(app) as seen:
        save(client, run, [{"rt": 1}])  # the same seq again: nothing inserted
    assert not [s for s in seen if "experiment_columns" in s]


def test_a_new_process_learns_the_registry_once(app, client, start_run, make_app):
    run = start_run()
    save(client, run, [{"rt": 1}])
    fresh = make_app()  # another process: an empty cache
    with statements(fresh) as seen:
        save(fresh.test_client(), run, [{"rt": 2}], first_seq=1)
        save(fresh.test_client(), run, [{"rt": 3}], first_seq=2)
    reads = [s for s in seen if "FROM experiment_columns" in s]
    assert len(reads) == 1 and not [s for s in seen if "INSERT INTO experiment_columns" in s]


def test_the_cache_learns_only_committed_columns(app, client, start_run):
    run = start_run()
    save(client, run, [{"rt": 1}])
    app.config["RUN_REQUESTS_PER_MINUTE"] = 0  # the next save registers, then gets a 429
    body = {"token": run["token"], "records": [{"seq": 1, "data": {"rt": 2, "lost": 1}}]}
    assert post(client, body).status_code == 429
    assert [name for name, *_ in registry(app)] == ["rt"]
    known = app.extensions["experiment_columns"].get("basic")
    assert not known.covers("lost", False)
    app.config["RUN_REQUESTS_PER_MINUTE"] = 300
    save(client, run, [{"rt": 2, "lost": 1}], first_seq=1)
    assert [name for name, *_ in registry(app)] == ["rt", "lost"]


def failing_python(*args: object) -> None:
    raise RuntimeError("a bug")


def failing_sql(connection, *args: object) -> None:
    connection.execute(text("SELECT no_such_column FROM experiment_columns"))


def assert_cursor_closed_with_the_export(app, caplog) -> None:
    """An export that stops half-way closes its cursor before its connection goes back.

    Otherwise the cursor is closed whenever the garbage collector finds it, maybe after its
    connection was closed: SQLAlchemy then logs an error, and on Python 3.11 formatting that
    error's traceback inside another ``ast.parse`` raises SystemError there.
    """
    with app.app_context():
        chunks = export_chunks(db.engine, "trials.csv", "basic", RunFilter(),
                               ExportOptions(pseudonym_key=b"k"))
        with pytest.raises(LookupError) as failure:
            list(chunks)  # the traceback keeps the writer's frame, and what it holds, alive
        db.engine.dispose()  # closes the connection the export gave back
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            del failure, chunks
            gc.collect()
    assert "Error closing cursor" not in caplog.text


@pytest.mark.parametrize("failure", [failing_python, failing_sql])
def test_a_failed_registration_keeps_the_records(app, client, start_run, monkeypatch, caplog,
                                                 api_token, failure):
    run = start_run()
    monkeypatch.setattr(column_registry, "write_columns", failure)
    with caplog.at_level(logging.ERROR):
        response = save(client, run, [{"rt": 1, "kept": "yes"}])
    assert response.get_json() == {"stored": 1, "duplicates": 0, "saved": 1, "next_seq": 1}
    assert "could not register the columns of 'basic'" in caplog.text
    monkeypatch.undo()
    # trials.csv refuses to drop the key silently; the backfill command repairs the registry.
    with pytest.raises(LookupError, match="backfill-columns basic"):
        export(client, api_token)
    assert_cursor_closed_with_the_export(app, caplog)
    failed = app.test_cli_runner().invoke(args=["export", "trials", "basic"])
    assert failed.exit_code == 1 and "has the key 'rt'" in failed.output
    result = app.test_cli_runner().invoke(args=["export", "backfill-columns", "basic"])
    assert result.exit_code == 0 and "basic: 2 columns" in result.output
    header, rows = export(client, api_token)
    assert header[len(TRIAL_RUN_COLUMNS):] == ["rt", "kept"] and rows[0]["kept"] == "yes"


@pytest.fixture
def capped(make_app):
    """An app whose experiments get at most 3 columns."""
    return make_app(EXPORT_MAX_COLUMNS=3)


def test_hostile_keys_overflow_into_one_json_column(capped, start_run, api_token):
    app, client = capped, capped.test_client()
    run = start_run()
    hostile = {f"k{n}": n for n in range(50)}
    long_key = "x" * 300
    save(client, run, [{"rt": 1, "condition": "mine", "data": {"condition": "clash"}},
                       {**hostile, long_key: "long", OVERFLOW_COLUMN: "reserved"}])
    names = [name for name, *_ in registry(app)]
    assert names == ["rt", "condition", OVERFLOW_COLUMN, "k0"]  # the overflow: when needed
    header, rows = export(client, api_token)
    assert header[len(TRIAL_RUN_COLUMNS):] == ["rt", "data.condition", OVERFLOW_COLUMN, "k0"]
    assert json.loads(rows[0][OVERFLOW_COLUMN]) == {"data.condition": "clash"}
    extra = json.loads(rows[1][OVERFLOW_COLUMN])
    assert extra == {**{f"k{n}": n for n in range(1, 50)}, long_key: "long",
                     OVERFLOW_COLUMN: "reserved"}
    assert rows[1]["k0"] == "0" and rows[0][OVERFLOW_COLUMN] != ""
    # Once full, more new keys cost no SQL either.
    with statements(app) as seen:
        save(client, run, [{f"more{n}": n for n in range(100)}], first_seq=2)
    assert not [s for s in seen if "experiment_columns" in s or "experiments" in s]
    assert len(registry(app)) == 4


def test_keys_holding_nul_overflow_on_every_database(app, client, start_run, api_token):
    # PostgreSQL's text cannot hold a NUL: registered as a column, such a key failed the
    # registry and so trials.csv for the whole experiment, and backfill-columns with it.
    run = start_run()
    save(client, run, [{"rt": 1, "a\u0000b": 2, "nested": {"\u0000": "x\u0000"}}])
    save(client, run, [{"rt": 2, "a\u0000b": 3}], first_seq=1)
    assert [name for name, *_ in registry(app)] == ["rt", OVERFLOW_COLUMN]
    header, rows = export(client, api_token)
    assert header[len(TRIAL_RUN_COLUMNS):] == ["rt", OVERFLOW_COLUMN]
    assert [json.loads(row[OVERFLOW_COLUMN]) for row in rows] == [
        {"a\u0000b": 2, "nested.\u0000": "x\u0000"}, {"a\u0000b": 3}]
    result = app.test_cli_runner().invoke(args=["export", "backfill-columns", "basic"])
    assert result.exit_code == 0, result.output


def test_no_overflow_column_until_needed(app, client, start_run, api_token):
    save(client, start_run(), [{"a": 1}])
    assert OVERFLOW_COLUMN not in export(client, api_token)[0]


def enter(client, n: int):
    args = {"assignmentId": f"COLS{n:026d}", "hitId": "HITCOLS", "workerId": f"ACOLS{n:09d}",
            "turkSubmitTo": "https://www.mturk.com"}
    return client.get("/exp/balanced", query_string=args)


def test_concurrent_saves_register_every_key_once(app, caplog):
    """Threads save overlapping new keys in different orders, round after round, while new
    workers arrive (entry locks the experiment's row too)."""
    threads, rounds = 8, 4
    clients = [app.test_client() for _ in range(threads)]
    runs = [task_config(enter(client, n).data) for n, client in enumerate(clients)]
    barrier = threading.Barrier(threads)

    def work(n: int) -> list[int]:
        rng, statuses = random.Random(n), []
        for r in range(rounds):
            keys = [f"r{r}k{k}" for k in range(10)]
            rng.shuffle(keys)
            datas = [{key: n for key in keys[:6]}, {key: n for key in keys[4:]},
                     {**CHECKPOINT, f"r{r}cp": n}]
            body = {"token": runs[n]["token"],
                    "records": [{"seq": 3 * r + i, "data": d} for i, d in enumerate(datas)]}
            barrier.wait()
            statuses.append(post(clients[n], body).status_code)
            statuses.append(enter(clients[n], 1000 * (r + 1) + n).status_code)
        return statuses

    with caplog.at_level(logging.ERROR), ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    assert results == [[200] * 2 * rounds] * threads
    assert "could not register" not in caplog.text
    rows = registry(app, "balanced")
    assert [position for _, position, *_ in rows] == list(range(len(rows)))
    flags = {name: (in_trials, in_checkpoints) for name, _, in_trials, in_checkpoints in rows}
    expected = {f"r{r}k{k}": (True, False) for r in range(rounds) for k in range(10)}
    expected |= {f"r{r}cp": (False, True) for r in range(rounds)}
    expected |= {"trial_type": (False, True), "timeline_node": (False, True),
                 "time_elapsed": (False, True)}
    assert flags == expected
    # Columns of an earlier round come before those of a later one.
    rounds_in_order = [int(name[1]) for name, *_ in rows if name.startswith("r")]
    assert rounds_in_order == sorted(rounds_in_order)


def test_one_runs_junk_keys_cannot_take_the_columns_of_the_others(make_app, start_run,
                                                                   api_token):
    app = make_app(RUN_MAX_NEW_COLUMNS=3)
    client = app.test_client()
    junk, honest = start_run(), start_run()
    save(client, junk, [{f"junk{n}": n for n in range(10)}])
    save(client, junk, [{f"more{n}": n for n in range(10)}], first_seq=1)
    save(client, honest, [{"rt": 1, "response": "a", "junk0": 5}])
    names = [name for name, *_ in registry(app)]
    assert names == ["junk0", "junk1", "junk2", OVERFLOW_COLUMN, "rt", "response"]
    _, rows = export(client, api_token)
    assert json.loads(rows[0][OVERFLOW_COLUMN]) == {f"junk{n}": n for n in range(3, 10)}
    assert json.loads(rows[1][OVERFLOW_COLUMN]) == {f"more{n}": n for n in range(10)}
    assert (rows[2]["rt"], rows[2]["response"], rows[2]["junk0"]) == ("1", "a", "5")
    with app.app_context():
        added = dict(db.session.execute(text("SELECT id, columns_added FROM runs")).all())
    assert added == {junk["run"]["id"]: 3, honest["run"]["id"]: 2}
    # The backfill applies the same rule to the stored records.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM experiment_columns"))
        backfill_columns(connection, 1000, "basic", max_per_run=3)
    assert [name for name, *_ in registry(app)] == names
