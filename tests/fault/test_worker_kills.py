"""Kill a gunicorn worker with SIGKILL every half second while 200 participants save data.

Every record the server acknowledged must be in the database exactly once, every participant
must be able to finish, and no run may be left in an impossible state. The budgets follow
the work, so that a loaded machine makes the test slower, never red: the participants wait
and retry as long as the server acknowledges anyone's request (bench.participants.Progress),
and a worker is killed only once the server has acknowledged more since the last kill (on a
loaded machine a new worker's boot can take longer than the half second, and killing it
again before it served anything would only stop the whole server).
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

from bench.participants import Participant, Progress
from bench.servers import BENCH_EXPERIMENTS, Gunicorn
from experiment_host.extensions import db
from experiment_host.models import Run, RunStatus, TrialRecord
from tests.conftest import DATABASES, POSTGRES_URL, build_app, dispose

PARTICIPANTS = 200
TRIALS = 100
BATCH = 10
#: Requests the server acknowledges between two kills, at least.
SERVED_BETWEEN_KILLS = 20
#: Giving up needs this many times as long without any acknowledgement as the server took
#: to boot (a worker killed while no other serves leaves the participants waiting for the
#: next one's boot), and two minutes at least.
STALL_PER_BOOT = 20
STALL_AT_LEAST = 120.0


def kill_workers_until(server: Gunicorn, progress: Progress, stop: threading.Event,
                       every: float) -> list[int]:
    """SIGKILL one worker every ``every`` seconds, each time the server has acknowledged
    ``SERVED_BETWEEN_KILLS`` more requests since the last kill, until told to stop."""
    killed: list[int] = []
    served_at_kill = progress.acknowledged
    while not stop.wait(every):
        pids = server.worker_pids()
        if pids and progress.acknowledged - served_at_kill >= SERVED_BETWEEN_KILLS:
            victim = random.choice(pids)
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            served_at_kill = progress.acknowledged
    return killed


@pytest.mark.parametrize("database", DATABASES)
def test_sigkilled_workers_lose_and_duplicate_nothing(database: str, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'fault.sqlite3'}" if database == "sqlite" else POSTGRES_URL
    app = build_app(url, EXPERIMENTS_DIR=str(BENCH_EXPERIMENTS))  # fresh schema
    env = {"DATABASE_URL": url, "SECRET_KEY": "fault-test",
           "EXPERIMENTS_DIR": str(BENCH_EXPERIMENTS),
           "NEW_RUNS_PER_IP_PER_HOUR": "100000", "RUN_REQUESTS_PER_MINUTE": "100000"}
    server = Gunicorn(env, workers=2, threads=4).start()
    progress = Progress(stall=max(STALL_AT_LEAST, STALL_PER_BOOT * server.boot_seconds))
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(1) as killer_pool, ThreadPoolExecutor(24) as pool:
            killer = killer_pool.submit(kill_workers_until, server, progress, stop, 0.5)
            outcomes = list(pool.map(
                lambda n: Participant(server.url, "bench", n, progress).run(TRIALS, BATCH),
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
    print(f"killed {len(killed)} workers; participants retried {retries} requests; "
          f"booted in {server.boot_seconds:.1f} s")
