"""Condition assignment: least-filled, quotas, abandonment, and concurrent arrivals."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import pairwise

import pytest
from psycopg.pq import Trace
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from experiment_host.conditions import _counts, condition_counts, create_run, pick_condition
from experiment_host.experiments import registry
from experiment_host.extensions import db
from experiment_host.models import ExperimentRow, Platform, Run, RunStatus, utcnow
from tests.conftest import POSTGRES_URL, build_app, dispose, needs_postgres, postgres_connection
from tests.helpers import HANG_SECONDS, save_and_complete


def arrive_concurrently(app, slug: str, count: int, threads: int = 10) -> Counter:
    """``count`` different workers open the experiment at the same moment."""
    barrier = threading.Barrier(threads)
    local = threading.local()

    def arrive(n: int) -> int:
        if not hasattr(local, "client"):
            local.client = app.test_client()
            barrier.wait()
        args = {"assignmentId": f"CONC{n:026d}", "hitId": "HITCONC", "workerId": f"ACONC{n:09d}",
                "turkSubmitTo": "https://www.mturk.com"}
        return local.client.get(f"/exp/{slug}", query_string=args).status_code

    with ThreadPoolExecutor(threads) as pool:
        return Counter(pool.map(arrive, range(count)))


def conditions_of(app, slug: str) -> Counter:
    with app.app_context():
        return Counter(db.session.scalars(select(Run.condition).where(Run.experiment_slug == slug)))


def place_runs(app, slug: str, runs: dict[str, int]) -> None:
    """Add runs in progress, seen just now, to conditions of ``slug``: ``runs[condition]``
    of them each."""
    now = utcnow()
    with app.app_context():
        if db.session.get(ExperimentRow, slug) is None:
            db.session.add(ExperimentRow(slug=slug))
        start = db.session.scalar(select(func.count()).select_from(Run))
        db.session.execute(db.insert(Run), [
            {"experiment_slug": slug, "platform": Platform.MTURK, "worker_id": f"A{start + i}",
             "session_key": f"S{start + i}", "condition": condition,
             "status": RunStatus.IN_PROGRESS, "attempt": 1, "created_at": now,
             "last_seen_at": now}
            for i, condition in enumerate(c for c, n in runs.items() for _ in range(n))])
        db.session.commit()


def picked(app, slug: str) -> str | None:
    with app.app_context():
        return pick_condition(registry()[slug], utcnow() - timedelta(hours=1))


def test_least_filled_with_random_ties(app):
    place_runs(app, "balanced", {"one": 2, "two": 1, "three": 2})
    assert picked(app, "balanced") == "two"
    place_runs(app, "balanced", {"two": 1})
    assert {picked(app, "balanced") for _ in range(50)} == {"one", "two", "three"}


def test_quota_full_conditions_are_skipped(app):
    place_runs(app, "basic", {"A": 3})
    assert picked(app, "basic") == "B"
    place_runs(app, "basic", {"B": 3})
    assert picked(app, "basic") is None


def test_concurrent_arrivals_stay_balanced(app):
    statuses = arrive_concurrently(app, "balanced", 30)
    assert statuses == Counter({200: 30})
    assert conditions_of(app, "balanced") == Counter({"one": 10, "two": 10, "three": 10})


def test_concurrent_arrivals_never_exceed_quotas(app):
    statuses = arrive_concurrently(app, "basic", 20)
    assert statuses == Counter({200: 6, 409: 14})
    assert conditions_of(app, "basic") == Counter({"A": 3, "B": 3})


def test_same_assignment_twice_at_once_makes_one_run(app):
    barrier = threading.Barrier(6)
    args = {"assignmentId": "DOUBLECLICK00000000000000000001", "hitId": "H",
            "workerId": "ADOUBLE0000001", "turkSubmitTo": "https://www.mturk.com"}

    def arrive(_: int) -> int:
        client = app.test_client()
        barrier.wait()
        return client.get("/exp/balanced", query_string=args).status_code

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(arrive, range(6))) == {200}
    with app.app_context():
        assert len(db.session.scalars(select(Run.id)).all()) == 1


def answer_in_thread(app, args: dict[str, str], remote_addr: str = "127.0.0.1"
                     ) -> tuple[threading.Thread, list[int]]:
    """Open the basic experiment with ``args`` in a thread of its own; its status, once
    answered, is in the list."""
    answered: list[int] = []

    def arrive() -> None:
        answered.append(app.test_client().get(
            "/exp/basic", query_string=args, environ_base={"REMOTE_ADDR": remote_addr}
        ).status_code)

    thread = threading.Thread(target=arrive, daemon=True)
    thread.start()
    return thread, answered


@needs_postgres
def test_arrivals_wait_for_the_experiments_lock_only_to_create_a_run(mturk_args):
    """Arrivals take turns on the experiment's row only to count, choose a condition and
    insert a new run. A reload, a worker who already took part and an arrival over the
    per-IP limit are answered while another transaction holds that row; a new worker's run
    is created once it is free."""
    app = build_app(POSTGRES_URL, NEW_RUNS_PER_IP_PER_HOUR=1)
    client = app.test_client()
    first, took_part = mturk_args(), mturk_args()
    assert client.get("/exp/basic", query_string=first).status_code == 200
    assert client.get("/exp/basic", query_string=took_part,
                      environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 200
    with app.app_context():
        db.session.execute(text("UPDATE runs SET status = 'submitted' WHERE worker_id = :w"),
                           {"w": took_part["workerId"]})
        db.session.commit()
    holder = postgres_connection()
    try:
        holder.execute("SELECT 1 FROM experiments WHERE slug = 'basic' FOR UPDATE")
        again = mturk_args(workerId=took_part["workerId"])
        for args, remote_addr, status in [(first, "127.0.0.1", 200),  # a reload
                                          (again, "10.0.0.2", 403),  # took part already
                                          (mturk_args(), "127.0.0.1", 429)]:  # over the limit
            thread, answered = answer_in_thread(app, args, remote_addr)
            thread.join(HANG_SECONDS)
            assert answered == [status], (args, answered)
        waiting, answered = answer_in_thread(app, mturk_args(), "10.0.0.3")
        waiting.join(1)
        assert waiting.is_alive() and answered == []  # a new worker's run waits for the lock
    finally:
        holder.rollback()
        holder.close()
    waiting.join(HANG_SECONDS)
    assert answered == [200]
    assert sum(conditions_of(app, "basic").values()) == 3
    dispose(app)


def traced_arrival(app, query_string, trace) -> list[str]:
    """The messages each way (F: the app's, B: the server's) of one arrival, in the order
    libpq's trace has them. Each checkout of a connection is traced until its checkin,
    which writes out what the trace holds."""

    def trace_messages(dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

    def stop_tracing(dbapi_connection, _record) -> None:
        dbapi_connection.pgconn.untrace()

    with app.app_context():
        event.listen(db.engine, "checkout", trace_messages)
        event.listen(db.engine, "checkin", stop_tracing)
    assert app.test_client().get("/exp/basic", query_string=query_string).status_code == 200
    dispose(app)
    trace.seek(0)
    return [line for line in trace.read().splitlines() if line[:2] in ("F\t", "B\t")]


def round_trips(messages: list[str]) -> int:
    """How many times the app waited for answers: each turn from sending to receiving."""
    return sum(1 for sent, received in pairwise(messages)
               if sent.startswith("F") and received.startswith("B"))


@needs_postgres
def test_a_new_run_is_created_in_one_round_trip(mturk_args, tmp_path):
    """The run's transaction (its BEGIN, the experiment's lock, the run's insert and the
    commit) leaves the app together, and the app waits for the server once: it never holds
    the lock while waiting for an answer, and then for its turn in a busy process."""
    with (tmp_path / "trace").open("w+") as trace:
        messages = traced_arrival(build_app(POSTGRES_URL), mturk_args(), trace)
    lock = next(i for i, m in enumerate(messages) if "INSERT INTO experiments" in m)
    commit = next(i for i, m in enumerate(messages) if i > lock and '"COMMIT"' in m)
    assert [m for m in messages[lock:commit + 1] if m.startswith("B")] == []
    assert any("INSERT INTO runs" in m or "WITH quiet" in m for m in messages[lock:commit + 1])
    # From the end of the transaction before it (the per-IP count's) to the end.
    begun = max(i for i, m in enumerate(messages[:lock]) if "ReadyForQuery\t I" in m) + 1
    assert round_trips(messages[begun:]) == 1
    assert messages[-1].endswith("ReadyForQuery\t I")


def test_a_run_that_cannot_be_inserted_leaves_nothing(app):
    """A second run for the same assignment (a double click that passed the lookups) is
    refused whole: neither it nor its arrival's count stands."""
    now = utcnow()
    run = {column.key: None for column in Run.__table__.columns
           if column.key not in ("id", "condition")}
    run.update(experiment_slug="basic", platform=Platform.MTURK, worker_id="ATWICE",
               session_key="TWICE", attempt=1, status=RunStatus.IN_PROGRESS, record_count=0,
               next_seq=0, created_at=now, last_seen_at=now, rate_window=0, rate_count=0,
               stored_bytes=0, columns_added=0, is_test=False)
    with app.app_context():
        experiment = registry()["basic"]
        run_id, condition = create_run(experiment, run, 30)
        with pytest.raises(IntegrityError):
            create_run(experiment, run, 30)
        db.session.rollback()
        stored = db.session.execute(select(Run.id, Run.condition)).all()
        arrivals = db.session.scalar(select(ExperimentRow.arrivals))
    assert stored == [(run_id, condition)] and arrivals == 1


def test_abandoned_runs_stop_counting(app, start_run, client, mturk_args):
    first, second = start_run("solo"), start_run("solo")
    assert client.get("/exp/solo", query_string=mturk_args()).status_code == 409
    with app.app_context():
        run = db.session.get(Run, first["run"]["id"])
        run.last_seen_at = utcnow() - timedelta(minutes=6)  # solo abandons after 5 minutes
        db.session.commit()
    assert client.get("/exp/solo", query_string=mturk_args()).status_code == 200
    # Completed runs hold their place for good, whenever they were last seen.
    save_and_complete(client, second["token"])
    with app.app_context():
        run = db.session.get(Run, second["run"]["id"])
        run.last_seen_at = utcnow() - timedelta(days=1)
        db.session.commit()
    assert client.get("/exp/solo", query_string=mturk_args()).status_code == 409


def test_rejected_and_returned_runs_free_their_place(app, start_run, client, mturk_args):
    first, second = start_run("solo"), start_run("solo")
    with app.app_context():
        db.session.get(Run, first["run"]["id"]).status = RunStatus.REJECTED
        db.session.get(Run, second["run"]["id"]).status = RunStatus.RETURNED
        db.session.commit()
    assert client.get("/exp/solo", query_string=mturk_args()).status_code == 200
    assert client.get("/exp/solo", query_string=mturk_args()).status_code == 200
    assert client.get("/exp/solo", query_string=mturk_args()).status_code == 409


def test_tallies_follow_every_status_change(app, start_run, client):
    from experiment_host.models import ConditionTally

    def tally(column) -> dict[str, int]:
        with app.app_context():
            rows = db.session.execute(select(ConditionTally.condition, column))
            return {condition: count for condition, count in rows if count}

    def held() -> dict[str, int]:
        return tally(ConditionTally.held)

    def in_progress() -> dict[str, int]:
        return tally(ConditionTally.in_progress)

    first, second = start_run("balanced"), start_run("balanced")
    conditions = Counter([first["run"]["condition"], second["run"]["condition"]])
    assert held() == {} and in_progress() == dict(conditions)
    for run in (first, second):
        save_and_complete(client, run["token"])
    assert held() == dict(conditions) and in_progress() == {}
    with app.app_context():
        db.session.get(Run, first["run"]["id"]).status = RunStatus.SUBMITTED  # still held
        db.session.commit()
    assert held() == dict(conditions)
    with app.app_context():
        db.session.get(Run, first["run"]["id"]).status = RunStatus.REJECTED
        db.session.delete(db.session.get(Run, second["run"]["id"]))
        db.session.commit()
    assert held() == {} and in_progress() == {}
    third = start_run("balanced")
    with app.app_context():
        run = db.session.get(Run, third["run"]["id"])
        assert in_progress() == {run.condition: 1}
        run.condition = "elsewhere"  # a researcher's correction moves it
        db.session.commit()
        assert in_progress() == {"elsewhere": 1}
        run.status = RunStatus.RETURNED
        db.session.commit()
    assert held() == {} and in_progress() == {}


def test_condition_counts_add_recent_in_progress_runs_to_the_tallies(app, start_run):
    runs = [start_run("balanced") for _ in range(5)]
    with app.app_context():
        slug_runs = [db.session.get(Run, r["run"]["id"]) for r in runs]
        slug_runs[0].status = RunStatus.COMPLETED  # tallied for good
        slug_runs[1].last_seen_at = utcnow() - timedelta(days=2)  # abandoned: not counted
        slug_runs[2].status = RunStatus.RETURNED  # gave its place back
        db.session.commit()
        expected = Counter(r.condition for r in (slug_runs[0], slug_runs[3], slug_runs[4]))
        counts = condition_counts("balanced", utcnow() - timedelta(hours=1))
    assert {name: n for name, n in counts.items() if n} == dict(expected)


def test_quiet_runs_are_counted_from_the_covering_index(tmp_path):
    """An arrival reads the tallies and the index entries of the quiet runs in progress
    only, even where most runs are finished and the planner has statistics: SQLite's
    planner, left alone, walks the (slug, condition) index over every run instead."""
    app = build_app(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    now = utcnow()
    with app.app_context():
        db.session.add(ExperimentRow(slug="balanced"))
        db.session.execute(db.insert(Run), [
            {"experiment_slug": "balanced", "platform": Platform.MTURK, "worker_id": f"A{i}",
             "session_key": f"S{i}", "condition": ("one", "two", "three")[i % 3],
             "status": RunStatus.COMPLETED if i % 50 else RunStatus.IN_PROGRESS,
             "attempt": 1, "created_at": now,
             "last_seen_at": now - timedelta(days=i % 100 == 0)} for i in range(2000)])
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        statement = _counts().compile(db.engine)
        parameters = [statement.params[name] for name in statement.positiontup]
        plan = db.session.connection().exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}",
            tuple("balanced" if p is None else p for p in parameters)).all()
        counts = condition_counts("balanced", now - timedelta(hours=1))
    dispose(app)
    steps = " / ".join(row[3] for row in plan)
    assert "COVERING INDEX ix_runs_experiment_status_seen_condition" in steps, steps
    assert "ix_runs_experiment_condition" not in steps, steps
    assert "SCAN runs" not in steps, steps
    # 1,960 tallied as completed + 40 in progress, of which 20 were last seen a day ago.
    assert sum(counts.values()) == 1980
