"""Prolific benchmark: ``flask prolific approve`` and ``bonus`` over 1,000 submissions, against
a sequential loop of one call per submission (approve) or two (set up + pay a bonus).

The simulator runs in its own process with ``--latency`` seconds added to every call; the
app uses its own SQLite database with a completed run (and a bonus) per submission. The
sequential loop is linear by construction, so it is timed on ``--baseline`` submissions and
scaled to the full count (said so in the output):

    .venv/bin/python bench/prolific_bench.py --submissions 1000 --latency 0.1 --baseline 200

Not part of the test suite; our client talks HTTP to the simulator throughout.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLUG = "survey"
EXPERIMENTS = ROOT / "tests" / "prolific" / "experiments"


def serve_simulator(ports: Any, studies: int, per_study: int, latency: float) -> None:
    """Child process: studies of submissions awaiting review, then serve until killed."""
    from experiment_host.simulator import create_simulator_app, serve_in_thread
    from experiment_host.simulator.prolific_state import ProlificState, Submission

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    state = ProlificState(balance_cents=10**9)
    for s in range(studies):
        study_id = f"{s:024x}"
        state.studies[study_id] = {"id": study_id, "status": "ACTIVE", "reward": 60,
                                   "total_available_places": per_study, "name": f"bench {s}"}
        for p in range(per_study):
            submission = Submission(f"{s:08x}{p:016x}", study_id, f"{s:012x}{p:012x}",
                                    status="AWAITING REVIEW")
            state.submissions[submission.id] = submission
    state.faults.latency_seconds = latency
    running = serve_in_thread(create_simulator_app(prolific=state), "127.0.0.1", 0)
    ports.put(running.server.port)
    running.thread.join()


def start_simulator(studies: int, per_study: int, latency: float
                    ) -> tuple[multiprocessing.Process, str]:
    ports: Any = multiprocessing.Queue()
    process = multiprocessing.Process(target=serve_simulator,
                                      args=(ports, studies, per_study, latency), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{ports.get(timeout=120)}/prolific/api/v1"


def make_app(api_url: str, folder: Path) -> Any:
    from experiment_host import create_app
    from experiment_host.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "EXPERIMENTS_DIR": str(EXPERIMENTS),
                      "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
                      "PROLIFIC_API_URL": api_url, "PROLIFIC_API_TOKEN": "bench"})
    with app.app_context():
        db.create_all()
    return app


def prepare(app: Any, client: Any) -> list[str]:
    """A completed run with a bonus for every submission; the study ids."""
    from experiment_host.extensions import db
    from experiment_host.models import ExperimentRow, Platform, Run, RunStatus
    from experiment_host.prolific.models import ProlificStudy

    now = datetime.now(UTC)
    with app.app_context():
        db.session.add(ExperimentRow(slug=SLUG))
        study_ids = [s["id"] for s in client.pages("studies/", what="listing")]
        for n, study_id in enumerate(study_ids):
            db.session.add(ProlificStudy(api_url=client.url, experiment_slug=SLUG, round=n + 1,
                                         internal_name=f"bench-{n}", study_id=study_id,
                                         reward_cents=60, places=0))
            for s in client.pages(f"studies/{study_id}/submissions/", what="listing"):
                db.session.add(Run(experiment_slug=SLUG, platform=Platform.PROLIFIC,
                                   worker_id=s["participant_id"], session_key=s["id"],
                                   study_key=study_id, condition="only", record_count=5,
                                   status=RunStatus.COMPLETED, completed_at=now,
                                   bonus_cents=25, bonus_reason="bench"))
        db.session.commit()
    return study_ids


def sequential(client: Any, study_ids: list[str], limit: int) -> tuple[float, float]:
    """One approval call per submission, then one set-up and one pay call per bonus."""
    items = [s for sid in study_ids
             for s in client.pages(f"studies/{sid}/submissions/", what="listing")][:limit]
    started = time.perf_counter()
    for s in items:
        client.post(f"submissions/{s['id']}/transition/", {"action": "APPROVE"}, what="approve")
    approved = time.perf_counter()
    for s in items:
        bulk = client.post("submissions/bonus-payments/", {
            "study_id": s["study_id"], "csv_bonuses": f"{s['id']},0.25"}, what="set up")
        client.post(f"bulk-bonus-payments/{bulk['id']}/pay/", what="pay", safe=False)
    return approved - started, time.perf_counter() - approved


def ours(app: Any) -> tuple[float, float, str]:
    runner = app.test_cli_runner()
    started = time.perf_counter()
    approve = runner.invoke(args=["prolific", "approve", "--all", "--yes"])
    approved = time.perf_counter()
    bonus = runner.invoke(args=["prolific", "bonus", "--all", "--yes"])
    done = time.perf_counter()
    assert approve.exit_code == 0 and bonus.exit_code == 0, approve.output + bonus.output
    summary = " ".join(line for line in (approve.output + bonus.output).splitlines()
                       if line.startswith(("Approved", "Paid")))
    return approved - started, done - approved, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--studies", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--baseline", type=int, default=200,
                        help="submissions the sequential loop is timed on (then scaled)")
    args = parser.parse_args()
    from experiment_host.prolific import ProlificClient, Settings

    per_study = args.submissions // args.studies
    total = per_study * args.studies
    print(f"{total} submissions awaiting review in {args.studies} study(ies), "
          f"{args.latency * 1000:.0f} ms added per Prolific call")
    process, api_url = start_simulator(args.studies, per_study, args.latency)
    try:
        client = ProlificClient(Settings(url=api_url, token="bench"))
        with tempfile.TemporaryDirectory() as folder:
            app = make_app(api_url, Path(folder))
            study_ids = prepare(app, client)
            approve_s, bonus_s, summary = ours(app)
        process.kill()
        process, api_url = start_simulator(args.studies, per_study, args.latency)
        client = ProlificClient(Settings(url=api_url, token="bench"))
        seq_approve, seq_bonus = sequential(client, study_ids, args.baseline)
    finally:
        process.kill()
    scale = total / args.baseline
    print(f"flask prolific approve --all:  {approve_s:6.1f} s   bonus --all: {bonus_s:6.1f} s"
          f"   [{summary}]")
    print(f"sequential loop, {args.baseline} timed, scaled x{scale:g}: approve "
          f"{seq_approve * scale:6.1f} s   bonus {seq_bonus * scale:6.1f} s")
    print(f"speed-up: approve {seq_approve * scale / approve_s:.0f}x, "
          f"bonus {seq_bonus * scale / bonus_s:.0f}x, "
          f"together {(seq_approve + seq_bonus) * scale / (approve_s + bonus_s):.0f}x")


if __name__ == "__main__":
    main()
