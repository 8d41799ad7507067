"""Approve benchmark: ``flask hits approve --all`` over 1,000 submitted assignments.

Each measurement gets its own simulator process (the local MTurk requester API, adding
``--latency`` seconds to every call) holding ``--hits`` HITs of submitted assignments, and
its own SQLite database with a completed run for every assignment. The sequential baseline
(MTURK_CONCURRENCY=1) and the concurrent default are measured in the same run:

    .venv/bin/python bench/approve_bench.py --assignments 1000 --latency 0.1

Not part of the test suite; the real boto3 client talks HTTP to the simulator throughout.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLUG = "open"


def serve_simulator(ports: Any, hits: int, per_hit: int, latency: float) -> None:
    """Child process: a simulator with submitted assignments, then serve until killed."""
    from experiment_host.simulator import create_simulator_app, serve_in_thread
    from experiment_host.simulator.state import SimulatorState

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    state = SimulatorState()
    for h in range(hits):
        hit = state.create_hit(f"https://bench.example.org/exp/{SLUG}", title=f"bench {h}",
                               max_assignments=per_hit)
        for w in range(per_hit):
            assignment = state.accept(hit.hit_id, f"AW{h:04d}{w:06d}")
            state.submit({"assignmentId": assignment.assignment_id, "completionCode": "X"})
    state.faults.latency_seconds = latency
    running = serve_in_thread(create_simulator_app(state), "127.0.0.1", 0)
    ports.put(running.server.port)
    running.thread.join()


def prepare(app: Any) -> int:
    """Record the simulator's HITs and a completed run per assignment; the assignment count."""
    from experiment_host.extensions import db
    from experiment_host.models import ExperimentRow, Platform, Run, RunStatus
    from experiment_host.mturk.gateway import gateway_for
    from experiment_host.mturk.models import Hit

    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        gateway = gateway_for(app.config, live=False)
        db.session.add(ExperimentRow(slug=SLUG))
        count = 0
        for hit in gateway.list_hits():
            db.session.add(Hit(endpoint=gateway.target.endpoint, sandbox=True, hit_id=hit.hit_id,
                               hit_group_id=hit.group_id, experiment_slug=SLUG,
                               request_token=f"bench-{hit.hit_id}", reward_cents=50,
                               max_assignments=hit.max_assignments))
            for a in gateway.assignments(hit.hit_id):
                db.session.add(Run(experiment_slug=SLUG, platform=Platform.MTURK,
                                   worker_id=a.worker_id, session_key=a.assignment_id,
                                   study_key=hit.hit_id, condition="x", record_count=5,
                                   status=RunStatus.COMPLETED, completed_at=now))
                count += 1
        db.session.commit()
    return count


def measure(concurrency: int, args: argparse.Namespace, folder: Path) -> tuple[float, int, str]:
    """Wall time of one ``flask hits approve --all --yes`` against a fresh simulator."""
    from experiment_host import create_app

    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    child = context.Process(target=serve_simulator, daemon=True,
                            args=(ports, args.hits, args.assignments // args.hits, args.latency))
    child.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=120)}"
        app = create_app({
            "SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{folder / f'c{concurrency}.db'}",
            "EXPERIMENTS_DIR": str(ROOT / "tests" / "experiments"), "MTURK_ENDPOINT_URL": url,
            "MTURK_CONCURRENCY": concurrency, "PUBLIC_URL": "https://bench.example.org"})
        count = prepare(app)
        started = time.perf_counter()
        result = app.test_cli_runner().invoke(args=["hits", "approve", "--all", "--yes"])
        elapsed = time.perf_counter() - started
    finally:
        child.terminate()
        child.join()
    if result.exit_code != 0:
        raise SystemExit(f"approve failed:\n{result.output}")
    summary = re.search(r"Summary: .*", result.output)
    return elapsed, count, summary.group(0) if summary else "(no summary)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=1000)
    parser.add_argument("--hits", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.1, help="Seconds added per call.")
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    print(f"{args.assignments} submitted assignments in {args.hits} HITs, "
          f"{args.latency * 1000:.0f} ms added per MTurk call")
    with tempfile.TemporaryDirectory() as tmp:
        base, n, base_summary = measure(1, args, Path(tmp))
        print(f"sequential (MTURK_CONCURRENCY=1):  {base:7.1f} s  {n / base:6.1f} approvals/s"
              f"  [{base_summary}]")
        fast, n, fast_summary = measure(args.concurrency, args, Path(tmp))
        print(f"concurrent (MTURK_CONCURRENCY={args.concurrency}): {fast:7.1f} s  "
              f"{n / fast:6.1f} approvals/s  [{fast_summary}]")
    print(f"speed-up: {base / fast:.1f}x")


if __name__ == "__main__":
    main()
