"""Kill a gunicorn worker with SIGKILL every half second while 200 participants save data.

Every record the server acknowledged must be in the database exactly once, every participant
must be able to finish, and no run may be left in an impossible state.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.participants import Participant
from bench.servers import BENCH_EXPERIMENTS, Gunicorn
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus, TrialRecord
from tests.conftest import DATABASES, POSTGRES_URL, build_app, dispose

PARTICIPANTS = 200
TRIALS = 100
BATCH = 10


def kill_workers_until(server: Gunicorn, stop: threading.Event, every: float) -> list[int]:
    """SIGKILL one worker every ``every`` seconds until told to stop."""
    killed: list[int] = []
    while not stop.wait(every):
        pids = server.worker_pids()
        if pids:
            victim = random.choice(pids)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
    return killed


@pytest.mark.parametrize("database", DATABASES)
def test_sigkilled_workers_lose_and_duplicate_nothing(database: str, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'fault.sqlite3'}" if database == "sqlite" else POSTGRES_URL
    app = build_app(url, EXPERIMENTS_DIR=str(BENCH_EXPERIMENTS))  # fresh schema
    env = {"DATABASE_URL": url, "SECRET_KEY": "fault-test",
           "EXPERIMENTS_DIR": str(BENCH_EXPERIMENTS),
           "NEW_RUNS_PER_IP_PER_HOUR": "100000", "RUN_REQUESTS_PER_MINUTE": "100000"}
    server = Gunicorn(env, workers=2, threads=4).start()
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(1) as killer_pool, ThreadPoolExecutor(24) as pool:
            killer = killer_pool.submit(kill_workers_until, server, stop, 0.5)
            outcomes = list(pool.map(
                lambda n: Participant(server.url, "bench", n, timeout=10).run(TRIALS, BATCH),
                range(PARTICIPANTS)))
            stop.set()
            killed = killer.result()
    finally:
        stop.set()
        server.stop()

    assert len(killed) >= 3, "the test must actually kill workers while participants save"
    assert [o.errors for o in outcomes if o.errors] == []
    assert all(o.completed and o.acknowledged == set(range(TRIALS)) for o in outcomes)
    with app.app_context():
        runs = db.session.execute(select(Run.id, Run.status, Run.record_count)).all()
        per_run = dict(db.session.execute(
            select(TrialRecord.run_id, func.count()).group_by(TrialRecord.run_id)).all())
        distinct = db.session.scalar(
            select(func.count()).select_from(
                select(TrialRecord.run_id, TrialRecord.seq).distinct().subquery()))
        total = db.session.scalar(select(func.count()).select_from(TrialRecord))
    dispose(app)
    assert len(runs) == PARTICIPANTS
    assert {status for _, status, _ in runs} == {RunStatus.COMPLETED}
    assert all(count == TRIALS and per_run[run_id] == TRIALS for run_id, _, count in runs)
    assert total == distinct == PARTICIPANTS * TRIALS
    retries = sum(o.retries for o in outcomes)
    print(f"killed {len(killed)} workers; participants retried {retries} requests")
