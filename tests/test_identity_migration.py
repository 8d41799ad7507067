"""Migration 0008_identity: stored MTurk worker ids become upper case, as entry now stores
them, without breaking the one-run-per-attempt constraint."""

from __future__ import annotations

from flask_migrate import upgrade
from sqlalchemy import text

from experiment_host.extensions import db
from tests.test_migrations import empty_app  # noqa: F401  (the fixture)

RUN = ("INSERT INTO runs (id, experiment_slug, platform, worker_id, session_key, attempt, "
       "condition, status, record_count, created_at, last_seen_at) VALUES ({id}, 'basic', "
       "'{platform}', '{worker}', 'S{id}', {attempt}, 'A', 'in_progress', 0, "
       "'2026-11-01 10:00:00', '2026-11-01 10:05:00')")


def test_upgrade_upper_cases_mturk_worker_ids(empty_app):  # noqa: F811
    with empty_app.app_context():
        upgrade(revision="0007_saves_keep_run_indexes")
        db.session.execute(text("INSERT INTO experiments (slug, previews, arrivals, "
                                "created_at) VALUES ('basic', 0, 0, '2026-11-01 10:00:00')"))
        for id, platform, worker, attempt in [
            (1, "mturk", "ASAME0001", 1), (2, "mturk", "asame0001", 1),
            (3, "mturk", "asame0001", 2), (4, "mturk", "alone0002", 1),
            (5, "prolific", "5f1a2b3c4d5e6f7a8b9c0d1e", 1),
        ]:
            db.session.execute(text(RUN.format(id=id, platform=platform, worker=worker,
                                               attempt=attempt)))
        db.session.commit()
        upgrade(revision="0008_identity")
        rows = db.session.execute(text(
            "SELECT id, worker_id, attempt FROM runs ORDER BY id")).all()
        db.session.rollback()
    assert [tuple(r) for r in rows] == [
        (1, "ASAME0001", 1), (2, "ASAME0001", 3), (3, "ASAME0001", 2), (4, "ALONE0002", 1),
        (5, "5f1a2b3c4d5e6f7a8b9c0d1e", 1),
    ]
