"""Schema migrations: `flask db upgrade` builds exactly the models' schema, and upgrading a
database that already holds data keeps it."""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from experiment_host import tallies
from experiment_host.extensions import db
from experiment_host.record_keys import TRIAL_RUN_COLUMNS
from experiment_host.researcher.export import ExportOptions
from experiment_host.researcher.filters import RunFilter
from experiment_host.researcher.streaming import export_chunks
from experiment_host.saving import column_registry
from tests.conftest import build_app, dispose


def drop_everything() -> None:
    db.drop_all()
    db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.session.commit()


@pytest.fixture
def empty_app(database_url: str) -> Iterator[Flask]:
    app = build_app(database_url)
    with app.app_context():
        drop_everything()
    yield app
    with app.app_context():
        drop_everything()
    dispose(app)


def test_upgrade_builds_the_models_schema(empty_app):
    with empty_app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_upgrade_keeps_existing_data(empty_app):
    with empty_app.app_context():
        upgrade(revision="0001_worker_flow")
        db.session.execute(text(
            "INSERT INTO experiments (slug, previews, arrivals, created_at) "
            "VALUES ('basic', 3, 1, '2026-11-01 10:00:00')"))
        db.session.execute(text(
            "INSERT INTO runs (id, experiment_slug, platform, worker_id, session_key, attempt, "
            "condition, status, record_count, created_at, last_seen_at) VALUES (7, 'basic', "
            "'mturk', 'AOLD', 'ASSIGNOLD', 1, 'A', 'in_progress', 2, '2026-11-01 10:00:00', "
            "'2026-11-01 10:05:00')"))
        db.session.execute(text(
            "INSERT INTO trial_records (run_id, seq, data, received_at) VALUES "
            "(7, 0, '{\"rt\": 1}', '2026-11-01 10:01:00'), "
            "(7, 1, '{\"rt\": 2}', '2026-11-01 10:02:00')"))
        db.session.commit()
        upgrade()
        run = db.session.execute(text(
            "SELECT worker_id, status, record_count, next_seq, rate_count FROM runs")).one()
        seqs = db.session.execute(text("SELECT seq FROM trial_records ORDER BY seq")).scalars()
        previews = db.session.execute(text("SELECT previews FROM experiments")).scalar_one()
        stored_bytes = db.session.execute(text("SELECT stored_bytes FROM runs")).scalar_one()
        db.session.rollback()
    assert tuple(run) == ("AOLD", "in_progress", 2, 2, 0)
    assert stored_bytes == 2 * len('{"rt": 1}')  # counted for the run in progress
    assert list(seqs) == [0, 1] and previews == 3


def test_outcomes_upgrade_marks_earlier_completions_and_downgrade_keeps_tallies(empty_app):
    insert = ("INSERT INTO runs (experiment_slug, platform, worker_id, session_key, attempt, "
              "condition, status, record_count, created_at, last_seen_at, completed_at) VALUES "
              "('basic', 'prolific', :w, :w, 1, 'A', :status, 1, '2026-11-01 10:00:00', "
              "'2026-11-01 10:05:00', :done)")
    tally = "SELECT held, in_progress FROM condition_tallies WHERE condition = 'A'"
    with empty_app.app_context():
        upgrade(revision="0011_run_caps")
        db.session.execute(text("INSERT INTO experiments (slug, previews, arrivals, created_at) "
                                "VALUES ('basic', 0, 2, '2026-11-01 10:00:00')"))
        db.session.execute(text(insert), {"w": "W1", "status": "approved",
                                          "done": "2026-11-01 10:04:00"})
        db.session.execute(text(insert), {"w": "W2", "status": "in_progress", "done": None})
        db.session.commit()
        upgrade(revision="0012_outcomes")
        outcomes = db.session.execute(text("SELECT worker_id, outcome FROM runs "
                                           "ORDER BY worker_id")).all()
        db.session.commit()
        downgrade(revision="0011_run_caps")
        columns = {c["name"] for c in inspect(db.engine).get_columns("runs")}
        db.session.execute(text("UPDATE runs SET status = 'completed' WHERE worker_id = 'W2'"))
        held = tuple(db.session.execute(text(tally)).one())  # the triggers survived
        db.session.commit()
        upgrade()
    assert [tuple(row) for row in outcomes] == [("W1", "completed"), ("W2", None)]
    assert "outcome" not in columns and "stored_bytes" in columns
    assert held == (2, 0)


def test_upgrade_backfills_condition_tallies_and_installs_triggers(empty_app):
    with empty_app.app_context():
        upgrade(revision="0002_researchers_hits_limits")
        db.session.execute(text(
            "INSERT INTO experiments (slug, previews, arrivals, created_at) "
            "VALUES ('basic', 0, 3, '2026-11-01 10:00:00')"))
        for n, status in enumerate(("completed", "approved", "in_progress")):
            db.session.execute(text(
                "INSERT INTO runs (experiment_slug, platform, worker_id, session_key, attempt, "
                "condition, status, record_count, created_at, last_seen_at) VALUES ('basic', "
                f"'mturk', 'AW{n}', 'AS{n}', 1, 'A', '{status}', 0, '2026-11-01 10:00:00', "
                "'2026-11-01 10:05:00')"))
        db.session.commit()
        upgrade()
        tally = lambda: tuple(db.session.execute(text(  # noqa: E731
            "SELECT held, in_progress FROM condition_tallies WHERE condition = 'A'")).one())
        assert tally() == (2, 1)
        db.session.execute(text("UPDATE runs SET status = 'completed' WHERE worker_id = 'AW2'"))
        db.session.execute(text("UPDATE runs SET status = 'rejected' WHERE worker_id = 'AW0'"))
        assert tally() == (2, 0)
        db.session.execute(text("DELETE FROM runs WHERE worker_id = 'AW1'"))
        assert tally() == (1, 0)
        db.session.rollback()


def test_downgrade_to_held_only_tallies_and_back(empty_app):
    insert_run = (
        "INSERT INTO runs (experiment_slug, platform, worker_id, session_key, attempt, "
        "condition, status, record_count, created_at, last_seen_at) VALUES ('basic', "
        "'mturk', :worker, :worker, 1, 'A', :status, 0, '2026-11-01 10:00:00', "
        "'2026-11-01 10:05:00')")
    tally = "SELECT * FROM condition_tallies WHERE condition = 'A'"
    with empty_app.app_context():
        upgrade()
        db.session.execute(text(
            "INSERT INTO experiments (slug, previews, arrivals, created_at) "
            "VALUES ('basic', 0, 2, '2026-11-01 10:00:00')"))
        for worker, status in (("AW0", "completed"), ("AW1", "in_progress")):
            db.session.execute(text(insert_run), {"worker": worker, "status": status})
        db.session.commit()
        downgrade(revision="0005_active_runs_covering_index")
        assert db.session.execute(text(tally)).mappings().one() == {
            "experiment_slug": "basic", "condition": "A", "held": 1}
        db.session.execute(text("UPDATE runs SET status = 'completed' WHERE worker_id = 'AW1'"))
        assert db.session.execute(text(tally)).mappings().one()["held"] == 2
        db.session.execute(text(insert_run), {"worker": "AW2", "status": "in_progress"})
        db.session.commit()
        upgrade()
        row = db.session.execute(text(tally)).mappings().one()
        db.session.rollback()
    assert (row["held"], row["in_progress"]) == (2, 1)


def _insert_runs_and_records(runs: dict[int, str], records: list[tuple[int, int, str]]) -> None:
    for slug in sorted(set(runs.values())):
        db.session.execute(text(
            "INSERT INTO experiments (slug, previews, arrivals, created_at) "
            f"VALUES ('{slug}', 0, 0, '2026-11-01 10:00:00')"))
    for run_id, slug in runs.items():
        db.session.execute(text(
            "INSERT INTO runs (id, experiment_slug, platform, worker_id, session_key, attempt, "
            f"condition, status, record_count, created_at, last_seen_at) VALUES ({run_id}, "
            f"'{slug}', 'mturk', 'AW{run_id}', 'AS{run_id}', 1, 'A', 'completed', 0, "
            "'2026-11-01 10:00:00', '2026-11-01 10:05:00')"))
    for run_id, seq, data in records:  # inserted out of order on purpose
        db.session.execute(text(
            "INSERT INTO trial_records (run_id, seq, data, received_at) VALUES "
            "(:run_id, :seq, :data, '2026-11-01 10:01:00')"),
            {"run_id": run_id, "seq": seq, "data": data})


def test_upgrade_backfills_the_column_registry(empty_app, monkeypatch):
    monkeypatch.setattr(column_registry, "BATCH_ROWS", 2)  # several batches
    checkpoint = '{"trial_type": "experiment-host-checkpoint", "timeline_node": 1}'
    with empty_app.app_context():
        upgrade(revision="0003_condition_tallies")
        _insert_runs_and_records({9: "basic", 3: "basic", 5: "open"}, [
            (9, 1, '{"z": 1, "b": {"c": 2}, "list": [1, {"d": 3}]}'), (9, 0, '{"a": 1}'),
            (5, 0, '{"x": {}}'), (3, 0, '{"late": 1, "a": 2, "seq": "shadow"}'),
            (3, 1, checkpoint), (3, 2, '{"trial_type": "html"}')])
        db.session.commit()
        upgrade()
        rows = db.session.execute(text(
            "SELECT experiment_slug, name, position, in_trials, in_checkpoints "
            "FROM experiment_columns ORDER BY experiment_slug, position")).all()
        db.session.rollback()
        chunks = export_chunks(db.engine, "trials.csv", "basic", RunFilter(),
                               ExportOptions(pseudonym_key=b"k"))
        header = "".join(text for _, text in chunks).splitlines()[0].split(",")
    # By run id, then seq: run 3 before run 9, seq 0 before seq 1.
    assert [tuple(row) for row in rows] == [
        ("basic", "late", 0, True, False), ("basic", "a", 1, True, False),
        ("basic", "seq", 2, True, False), ("basic", "trial_type", 3, True, True),
        ("basic", "timeline_node", 4, False, True), ("basic", "z", 5, True, False),
        ("basic", "b.c", 6, True, False), ("basic", "list", 7, True, False),
        ("open", "x", 0, True, False)]
    assert header == [*TRIAL_RUN_COLUMNS, "late", "a", "data.seq", "trial_type", "z", "b.c",
                      "list"]


def test_upgraded_database_serves_the_resumed_run(empty_app, database_url):
    with empty_app.app_context():
        upgrade()
    app = build_app(database_url, fresh_schema=False)
    try:
        client = app.test_client()
        args = {"assignmentId": "MIGRATED000000000000000000001", "hitId": "H",
                "workerId": "AMIGRATED00001", "turkSubmitTo": "https://www.mturk.com"}
        assert client.get("/exp/open", query_string=args).status_code == 200
    finally:
        dispose(app)


def test_pages_open_before_page_keys_keep_saving_until_the_next_page(empty_app, database_url):
    with empty_app.app_context():
        upgrade(revision="0007_saves_keep_run_indexes")
        db.session.execute(text(
            "INSERT INTO experiments (slug, previews, arrivals, created_at) "
            "VALUES ('open', 0, 1, '2026-11-01 10:00:00')"))
        db.session.execute(text(
            "INSERT INTO runs (id, experiment_slug, platform, worker_id, session_key, study_key, "
            "submit_to, attempt, condition, status, record_count, created_at, last_seen_at) "
            "VALUES (7, 'open', 'mturk', 'AOLD', 'ASSIGNOLD00000000000000000001', 'H', "
            "'https://www.mturk.com', 1, NULL, 'in_progress', 0, '2026-11-01 10:00:00', "
            "'2026-11-01 10:05:00')"))
        db.session.commit()
        upgrade()
    app = build_app(database_url, fresh_schema=False)
    try:
        client = app.test_client()
        with app.test_request_context():  # a token issued before: it claims the session key
            from experiment_host import tokens
            old = tokens._serializer().dumps({"r": 7, "k": "ASSIGNOLD00000000000000000001",
                                              "e": "open"})
        body = {"token": old, "records": [{"seq": 0, "data": {"a": 1}}]}
        assert client.post("/api/records", json=body).status_code == 200
        args = {"assignmentId": "ASSIGNOLD00000000000000000001", "hitId": "H",
                "workerId": "AOLD", "turkSubmitTo": "https://www.mturk.com"}
        page = client.get("/exp/open", query_string=args, follow_redirects=True)
        assert page.status_code == 200
        body["records"] = [{"seq": 1, "data": {"a": 2}}]
        answer = client.post("/api/records", json=body)
        assert answer.status_code == 401 and answer.get_json()["error"] == "superseded_token"
        with app.app_context():
            downgrade(revision="0007_saves_keep_run_indexes")
            upgrade()
    finally:
        dispose(app)


def _revision(name: str):
    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"revision_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migrations_keep_their_own_trigger_ddl():
    """A migration's trigger DDL is its own copy: the app's may change after it ran. The
    latest trigger migration's copy is the app's DDL today (a change to tallies.py needs a
    new migration, with its own copy, named here)."""
    versions = Path(__file__).resolve().parents[1] / "migrations" / "versions"
    for path in versions.glob("*.py"):
        imports = {(node.module, alias.name) if isinstance(node, ast.ImportFrom)
                   else (alias.name, "") for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
        assert not {("experiment_host", "tallies"), ("experiment_host.tallies", "")} & imports \
            and not any(module == "experiment_host.tallies" for module, _ in imports), path.name
    latest = _revision("0015_lab")

    def words(statements: list[str]) -> list[list[str]]:
        return [statement.split() for statement in statements]

    assert words(latest.SQLITE_TRIGGERS) == words(tallies.statements("sqlite"))
    assert words(latest.POSTGRESQL_TRIGGERS) == words(tallies.statements("postgresql"))
    assert words(latest.BACKFILL) == words(tallies.BACKFILL)


def test_links_downgrade_drops_the_link_tables_and_upgrade_brings_them_back(empty_app):
    with empty_app.app_context():
        upgrade()
        downgrade(revision="0013_prolific")
        tables = set(inspect(db.engine).get_table_names())
        assert not tables & {"link_batches", "study_links", "link_entries"}
        upgrade()
        assert {"link_batches", "study_links", "link_entries"} <= set(
            inspect(db.engine).get_table_names())


def test_0015_keeps_test_runs_out_of_the_tallies_and_downgrades(empty_app):
    insert = ("INSERT INTO runs (id, experiment_slug, platform, worker_id, session_key, "
              "attempt, condition, status, record_count, created_at, last_seen_at{extra}) "
              "VALUES ({id}, 'basic', 'link', 'P{id}', 'P{id}', 1, 'A', '{status}', 0, "
              "'2026-11-01 10:00:00', '2026-11-01 10:05:00'{value})")
    held = "SELECT held, in_progress FROM condition_tallies WHERE condition = 'A'"
    with empty_app.app_context():
        upgrade(revision="0011_run_caps")
        db.session.execute(text("INSERT INTO experiments (slug, previews, arrivals, created_at) "
                                "VALUES ('basic', 0, 0, '2026-11-01 10:00:00')"))
        db.session.execute(text(insert.format(id=1, status="completed", extra="", value="")))
        db.session.commit()
        upgrade()
        for run_id, status in ((2, "completed"), (3, "in_progress")):
            db.session.execute(text(insert.format(id=run_id, status=status, extra=", is_test",
                                                  value=", true")))
        db.session.execute(text("UPDATE runs SET status = 'approved' WHERE id = 2"))
        db.session.commit()
        after_upgrade = tuple(db.session.execute(text(held)).one())
        db.session.execute(text("UPDATE runs SET is_test = true WHERE id = 1"))
        db.session.commit()
        flagged_later = tuple(db.session.execute(text(held)).one())
        downgrade(revision="0011_run_caps")
        after_downgrade = tuple(db.session.execute(text(held)).one())
        db.session.rollback()
    assert after_upgrade == (1, 0)  # the real run only
    assert flagged_later == (0, 0)  # flagging a run a test takes it out of the tally
    assert after_downgrade == (2, 1)  # every run counts again without the flag


def test_0015_makes_existing_accounts_admins_and_new_ones_not(empty_app):
    from experiment_host.researcher.accounts import add_researcher, find_researcher

    with empty_app.app_context():
        upgrade(revision="0011_run_caps")
        db.session.execute(text(
            "INSERT INTO researchers (name, password_hash, created_at, session_generation) "
            "VALUES ('old', 'x', '2026-11-01 10:00:00', 0)"))
        db.session.commit()
        upgrade()
        add_researcher("new", "a long enough password")
        db.session.commit()
        roles = {name: find_researcher(name).is_admin for name in ("old", "new")}
    assert roles == {"old": True, "new": False}
