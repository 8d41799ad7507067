"""The guard is defined once: the SQL text of the save statements is rendered from
run_guard's SQLAlchemy expressions, and both forms answer alike on every database, over runs
in every status and state the guard reads."""

from __future__ import annotations

import inspect
import itertools
from typing import Any

from sqlalchemy import Boolean, Integer, bindparam, column, select, text

from experiment_host.extensions import db
from experiment_host.models import ExperimentRow, Platform, Run, RunStatus, UTCDateTime, utcnow
from experiment_host.saving import save_sql
from experiment_host.saving.run_guard import (
    SEEN_RESOLUTION,
    as_text,
    claimed_in_progress,
    placeholder,
    requests_this_minute,
    seen_now,
    within_caps,
)

WINDOW = 1000
BUDGET = 5
MAX_RECORDS, MAX_BYTES = 10, 1000


def every_state() -> list[dict[str, Any]]:
    """A run per combination of what the guard reads: status, page, request budget, caps and
    how lately it was seen."""
    now = utcnow()
    pages = ["claimed", "superseded", None]
    budgets = [(WINDOW, BUDGET - 1), (WINDOW, BUDGET), (WINDOW - 1, BUDGET + 3)]
    caps = [(0, 0), (MAX_RECORDS - 1, 0), (MAX_RECORDS, 0), (0, MAX_BYTES - 1)]
    seen = [now - SEEN_RESOLUTION * 2, now]
    runs = []
    for n, (status, page, (window, count), (records, size), last_seen) in enumerate(
            itertools.product(RunStatus, pages, budgets, caps, seen)):
        runs.append({"experiment_slug": "basic", "platform": Platform.MTURK,
                     "worker_id": f"W{n}", "session_key": f"S{n}", "page_key": page,
                     "status": status, "rate_window": window, "rate_count": count,
                     "record_count": records, "next_seq": records, "stored_bytes": size,
                     "created_at": now, "last_seen_at": last_seen})
    return runs


def parameters() -> dict[str, Any]:
    now = utcnow()
    return {"claimed_page": "claimed", "now": now, "seen_before": now - SEEN_RESOLUTION,
            "window": WINDOW, "max_records": MAX_RECORDS, "max_bytes": MAX_BYTES,
            "batch_size": 1, "batch_bytes": 1}


def test_the_sql_text_and_the_expression_answer_alike(app):
    with app.app_context():
        db.session.add(ExperimentRow(slug="basic"))
        db.session.flush()
        db.session.execute(db.insert(Run), every_state())
        dialect = db.engine.dialect.name
        ids = list(db.session.scalars(select(Run.id).order_by(Run.id)))
        values = parameters()
        # The guard, for each run's own claim and for a run that does not exist.
        guard_text = text(f"SELECT id FROM runs WHERE {save_sql.claimed_in_progress_sql(dialect)}")
        for run_id in [*ids, max(ids) + 1]:
            claim = {"run_id": run_id, "claimed_page": "claimed"}
            expected = set(db.session.scalars(select(Run.id).where(claimed_in_progress()), claim))
            assert set(db.session.scalars(guard_text, claim)) == expected, run_id
        passing = db.session.scalars(
            select(Run.id).where(claimed_in_progress(Run.id, bindparam("claimed_page"))),
            values).all()
        assert len(passing) == len(ids) // (len(RunStatus) * 3)  # in progress, claimed page
        # The budget, the caps and last_seen_at, for every run at once.
        batch = (bindparam("batch_size"), bindparam("batch_bytes"))
        expression = select(Run.id, requests_this_minute(), seen_now(),
                            within_caps(*batch)).order_by(Run.id)
        rendered = ", ".join(as_text(part, dialect) for part in (
            requests_this_minute(placeholder), seen_now(placeholder),
            within_caps(placeholder("batch_size"), placeholder("batch_bytes"), placeholder)))
        as_sql = text(f"SELECT runs.id, {rendered} FROM runs ORDER BY runs.id").columns(
            column("id", Integer), column("requests", Integer), column("seen", UTCDateTime()),
            column("within", Boolean))
        rows = [tuple(row) for row in db.session.execute(expression, values)]
        assert [tuple(row) for row in db.session.execute(as_sql, values)] == rows
        assert {row[1] for row in rows} == {1, BUDGET, BUDGET + 1}
        assert {bool(row[3]) for row in rows} == {True, False}
        assert len({row[2] for row in rows}) > 1  # moved on, and left as it was
        db.session.rollback()


def test_the_sql_text_writes_no_status_of_its_own():
    source = inspect.getsource(save_sql)
    assert not any(f"'{status.value}'" in source for status in RunStatus)
    for dialect in ("sqlite", "postgresql"):
        assert f"runs.status = '{RunStatus.IN_PROGRESS.value}'" in save_sql.insert_batch(dialect)
    assert "runs.page_key = claims.claimed_page" in save_sql.save_if_plain_postgresql()
    assert "runs.page_key = :claimed_page" in save_sql.insert_if_plain_sqlite()
