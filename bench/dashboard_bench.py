"""Dashboard pages at scale: 100,000 runs and 10,000,000 trial records on PostgreSQL.

    .venv/bin/python bench/dashboard_bench.py --postgres URL [--runs 100000] [--per-run 100]

Fills the database in SQL (generate_series), runs ANALYZE, then times each researcher page
in-process (Flask test client with an API token), and, as the baseline measured in the
same run, the same number of requests to /healthz (one trivial query). Then the drop-off
figures alone: on ``runs.record_count`` (no rule) and on the records a ``[dashboard]
count_trials_where`` rule picks (one grouped query over the experiment's trial records).
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
        add_researcher("bench", "a long benchmark password", admin=True)  # sees every experiment
        _, token = issue_token("bench")
        db.session.commit()
    print(f"filled {args.runs} runs and {args.runs * args.per_run} trial records "
          f"in {seconds:.0f} s")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    baseline = statistics.median(timed(client, "/healthz", {}, args.repeat * 4))
    print(f"baseline /healthz (one trivial query): median {baseline * 1000:.1f} ms")
    last_page = min(500, -(-args.runs // 50))  # RUNS_PER_PAGE's default; page 500 at 100,000
    pages = {label.replace("500", str(last_page)): path.replace("500", str(last_page))
             for label, path in PAGES.items()}
    for label, path in pages.items():
        times = timed(client, path, headers, args.repeat)
        print(f"{label:<14} median {statistics.median(times) * 1000:7.1f} ms  "
              f"max {max(times) * 1000:7.1f} ms  ({statistics.median(times) / baseline:.0f}x "
              f"baseline)", flush=True)
    drop_off_figures(app, args.repeat)


def drop_off_figures(app, repeat: int) -> None:
    """Time the drop-off query without a rule, with one that every record matches and one
    that none does; then again as if the experiment had checkpoint records (each record's
    trial_type is then read too). Each rule's query is timed in turns with the same query on
    PostgreSQL's plain JSON operators (``as stored``: the code before ``json_text``, which
    fails on a record holding "\\u0000"), the baseline of its cost."""
    from experiment_host.extensions import db
    from experiment_host.models import ExperimentColumn
    from experiment_host.researcher import progress

    readable = progress.json_text

    def as_stored(column, *path):
        return column[path if len(path) > 1 else path[0]].as_string()

    with app.app_context():
        db.session.add(ExperimentColumn(experiment_slug="bench", name="key", position=0,
                                        in_trials=True))  # the fill registers no columns
        db.session.commit()
        for checkpoints in (False, True):
            if checkpoints:
                db.session.add(ExperimentColumn(experiment_slug="bench", name="trial_type",
                                                position=1, in_checkpoints=True))
                db.session.commit()
            for label, rule in (("no rule", None), ("key = [f]", {"key": ("f",)}),
                                ("key = [none]", {"key": ("none",)})):
                if checkpoints and rule is None:
                    continue
                times: dict[str, list[float]] = {"json_text": [], "as stored": []}
                for _ in range(repeat):
                    for variant, reader in (("json_text", readable), ("as stored", as_stored)):
                        progress.json_text = reader
                        started = time.perf_counter()
                        progress.trial_progress("bench", rule)
                        times[variant].append(time.perf_counter() - started)
                progress.json_text = readable
                label += " +checkpoints" if checkpoints else ""
                ours, plain = (statistics.median(times[v]) for v in times)
                print(f"drop-off, {label:<25} median {ours * 1000:7.1f} ms  max "
                      f"{max(times['json_text']) * 1000:7.1f} ms   as stored {plain * 1000:7.1f}"
                      f" ms  ratio {ours / plain:.2f}", flush=True)


if __name__ == "__main__":
    main()
