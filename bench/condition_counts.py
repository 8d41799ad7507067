"""What one arrival costs the database, in process, by the runs already in the study.

    .venv/bin/python bench/condition_counts.py [--calls 300] [--postgres URL]

For each database and each prefill (runs, of which some in progress and seen just now, and
some in progress but quiet: last seen two days ago), times

- *count*: ``condition_counts`` as an arrival calls it, in a transaction that has locked
  the experiment (rolled back after each call);
- *entry*: ``runs.enter`` for a new worker and the commit (lock, count, choose, insert
  the run and its tally), without the HTTP request or the page.

The baseline is the same on an empty database, measured in the same run; flat means a ratio
near 1. The planner has statistics in every case (ANALYZE after the prefill).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.save_path import analyze, bench_app, databases, fresh_schema

#: (runs, in progress and active, in progress but quiet); the first is the baseline.
PREFILLS = [(0, 0, 0), (100_000, 0, 0), (100_000, 5_000, 0), (100_000, 20_000, 0),
            (100_000, 5_000, 1_000)]


def time_arrivals(url: str, calls: int) -> tuple[list[float], list[float]]:
    """Microseconds per count and per entry, one figure per call."""
    from experiment_host.conditions import abandon_cutoff, condition_counts, lock_experiment
    from experiment_host.experiments import registry
    from experiment_host.extensions import db
    from experiment_host.models import Platform, utcnow
    from experiment_host.platforms.base import Identity
    from experiment_host.runs import enter

    app = bench_app(url)
    minutes = app.config["ABANDON_AFTER_MINUTES"]
    counts, entries = [], []
    with app.app_context():
        analyze(db.engine)
        experiment = registry()["bench"]
        for n in range(calls):
            lock_experiment("bench")
            cutoff = abandon_cutoff(experiment, minutes, utcnow())
            start = time.perf_counter()
            condition_counts("bench", cutoff)
            counts.append((time.perf_counter() - start) * 1e6)
            db.session.rollback()
            identity = Identity(Platform.MTURK, f"ACOUNT{n:09d}", f"COUNT{n:025d}")
            start = time.perf_counter()
            enter(experiment, identity, "bench", minutes)
            db.session.commit()
            entries.append((time.perf_counter() - start) * 1e6)
        db.engine.dispose()
    return counts, entries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its tables are dropped)")
    args = parser.parse_args()
    print(f"== one arrival, in process: medians of {args.calls} calls (ratio to the empty "
          "database)")
    for name, url in databases(args.postgres).items():
        baselines: tuple[float, float] | None = None
        for runs, active, quiet in PREFILLS:
            fresh_schema(url, runs=runs, active=active, quiet=quiet)
            count, entry = (statistics.median(f) for f in time_arrivals(url, args.calls))
            baselines = baselines or (count, entry)
            print(f"{name:<10} {runs:>7} runs, {active:>6} in progress, {quiet:>5} quiet:  "
                  f"count {count:6.0f} us ({count / baselines[0]:5.2f}x)  "
                  f"entry {entry:6.0f} us ({entry / baselines[1]:5.2f}x)", flush=True)


if __name__ == "__main__":
    main()
