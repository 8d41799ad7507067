"""database.write_transaction: the hot path's own short transactions, and SQLite's queue."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, select, text

from experiment_host.database import increment, write_transaction
from experiment_host.extensions import db
from experiment_host.models import ExperimentRow
from tests.conftest import build_app, dispose
from tests.helpers import HANG_SECONDS


def arrivals(app) -> int:
    with app.app_context():
        return db.session.scalar(select(ExperimentRow.arrivals).where(ExperimentRow.slug == "q"))


@pytest.fixture
def counter_app(app):
    with app.app_context():
        db.session.add(ExperimentRow(slug="q", previews=0, arrivals=0))
        db.session.commit()
    return app


def add_one(app) -> None:
    with app.app_context(), write_transaction() as connection:
        connection.execute(text("UPDATE experiments SET arrivals = arrivals + 1 WHERE slug = 'q'"))


def test_commits_on_success_and_rolls_back_on_error(counter_app):
    add_one(counter_app)
    with pytest.raises(RuntimeError), counter_app.app_context(), write_transaction() as connection:
        connection.execute(text("UPDATE experiments SET arrivals = 100 WHERE slug = 'q'"))
        raise RuntimeError("the request failed half-way")
    assert arrivals(counter_app) == 1
    add_one(counter_app)  # an error leaves nothing held: the next writer gets through
    assert arrivals(counter_app) == 2


def test_concurrent_writers_in_one_process_all_commit(counter_app):
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: add_one(counter_app), range(400)))
    assert arrivals(counter_app) == 400


def test_sqlite_writers_wait_in_the_queue_not_in_sqlite(tmp_path):
    """A second writer of the same process sends nothing to SQLite (whose busy handler would
    have it poll with sleeps) until the first has committed; then it goes straight through."""
    app = build_app(f"sqlite:///{tmp_path / 'queue.sqlite3'}")
    with app.app_context():
        db.session.add(ExperimentRow(slug="q", previews=0, arrivals=0))
        db.session.commit()
        engine = db.engine
    holding, release = threading.Event(), threading.Event()
    executed_by: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def note(*_args) -> None:
        executed_by.append(threading.current_thread().name)

    def slow_writer() -> None:
        with app.app_context(), write_transaction() as connection:
            connection.execute(text("UPDATE experiments SET arrivals = 50 WHERE slug = 'q'"))
            holding.set()
            release.wait(HANG_SECONDS)

    with ThreadPoolExecutor(1, "first") as one, ThreadPoolExecutor(1, "second") as two:
        first = one.submit(slow_writer)
        assert holding.wait(HANG_SECONDS)
        second = two.submit(add_one, app)
        time.sleep(0.3)  # room for the second writer to get as far as it can
        assert not second.done()
        assert not any(name.startswith("second") for name in executed_by)
        release.set()
        first.result(HANG_SECONDS)
        second.result(HANG_SECONDS)
    assert any(name.startswith("second") for name in executed_by)
    assert arrivals(app) == 51
    dispose(app)


def test_increment_counts_each_key_on_its_own_row(app):
    """The statement is built once: every call must bind its own keys, not the first's."""
    with app.app_context():
        assert increment(ExperimentRow, {"slug": "first"}, "arrivals") == 1
        assert increment(ExperimentRow, {"slug": "second"}, "previews") == 1
        assert increment(ExperimentRow, {"slug": "first"}, "arrivals") == 2
        db.session.commit()
        rows = {row.slug: row for row in db.session.scalars(select(ExperimentRow))}
        assert (rows["first"].arrivals, rows["first"].previews) == (2, 0)
        assert (rows["second"].arrivals, rows["second"].previews) == (0, 1)
        assert rows["first"].created_at is not None  # the column's Python default still applies
