"""Dashboard pages at scale: 100,000 runs and 10,000,000 trial records on PostgreSQL.

    .venv/bin/python bench/dashboard_bench.py --postgres URL [--runs 100000] [--per-run 100]

Fills the database in SQL (generate_series), runs ANALYZE, then times each researcher page
in-process (Flask test client with an API token), and, as the baseline measured in the
same run, the same number of requests to /healthz (one trivial query).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import BENCH_EXPERIMENTS

FILL = [
    "INSERT INTO experiments (slug, previews, arrivals, created_at) "
    "VALUES ('bench', :runs, :runs, now())",
    "INSERT INTO runs (experiment_slug, platform, worker_id, session_key, attempt, condition, "
    "status, record_count, next_seq, created_at, last_seen_at, completed_at) "
    "SELECT 'bench', 'mturk', 'AW' || g, 'AS' || g, 1, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, "
    "CASE WHEN g % 10 = 0 THEN 'in_progress' WHEN g % 10 = 1 THEN 'returned' "
    "ELSE 'completed' END, :per_run, :per_run, now() - (g || ' minutes')::interval, "
    "now() - (g || ' minutes')::interval, "
    "CASE WHEN g % 10 > 1 THEN now() - (g || ' minutes')::interval END "
    "FROM generate_series(1, :runs) AS g",
    "INSERT INTO trial_records (run_id, seq, data, received_at) "
    "SELECT r.id, s, json_build_object('trial', s, 'rt', 300 + s, 'key', 'f'), now() "
    "FROM runs AS r, generate_series(0, :per_run - 1) AS s",
]
PAGES = {
    "index": "/researcher/",
    "experiment": "/researcher/experiments/bench",
    "runs page 500": "/researcher/experiments/bench?page=500",
    "filtered": "/researcher/experiments/bench?status=completed&condition=a",
}


def fill(app, runs: int, per_run: int) -> float:
    from experiment_host.extensions import db

    started = time.perf_counter()
    with app.app_context():
        db.drop_all()
        db.create_all()
        for statement in FILL:
            db.session.execute(db.text(statement), {"runs": runs, "per_run": per_run})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(db.text("ANALYZE"))
    return time.perf_counter() - started


def timed(client, path: str, headers: dict[str, str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--per-run", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from experiment_host import create_app
    from experiment_host.extensions import db
    from experiment_host.researcher.accounts import add_researcher, issue_token

    app = create_app({"DATABASE_URL": args.postgres, "SECRET_KEY": "bench",
                      "EXPERIMENTS_DIR": str(BENCH_EXPERIMENTS)})
    seconds = fill(app, args.runs, args.per_run)
    with app.app_context():
        add_researcher("bench", "a long benchmark password")
        _, token = issue_token("bench")
        db.session.commit()
    print(f"filled {args.runs} runs and {args.runs * args.per_run} trial records "
          f"in {seconds:.0f} s")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    baseline = statistics.median(timed(client, "/healthz", {}, args.repeat * 4))
    print(f"baseline /healthz (one trivial query): median {baseline * 1000:.1f} ms")
    for label, path in PAGES.items():
        times = timed(client, path, headers, args.repeat)
        print(f"{label:<14} median {statistics.median(times) * 1000:7.1f} ms  "
              f"max {max(times) * 1000:7.1f} ms  ({statistics.median(times) / baseline:.0f}x "
              f"baseline)", flush=True)


if __name__ == "__main__":
    main()
