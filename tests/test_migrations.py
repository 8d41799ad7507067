"""Schema migrations: `flask db upgrade` builds exactly the models' schema, and upgrading a
database that already holds data keeps it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from experiment_host.extensions import db
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
        db.session.rollback()
    assert tuple(run) == ("AOLD", "in_progress", 2, 2, 0)
    assert list(seqs) == [0, 1] and previews == 3


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
        held = lambda: db.session.execute(text(  # noqa: E731
            "SELECT held FROM condition_tallies WHERE condition = 'A'")).scalar_one()
        assert held() == 2
        db.session.execute(text("UPDATE runs SET status = 'completed' WHERE worker_id = 'AW2'"))
        db.session.execute(text("UPDATE runs SET status = 'rejected' WHERE worker_id = 'AW0'"))
        assert held() == 2
        db.session.execute(text("DELETE FROM runs WHERE worker_id = 'AW1'"))
        assert held() == 1
        db.session.rollback()


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
