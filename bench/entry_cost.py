"""What one whole arrival costs in process: CPU per new worker's entry, HTTP aside.

    .venv/bin/python bench/entry_cost.py [--arrivals 300] [--rounds 5] [--postgres URL]

Each arrival is a new MTurk worker's ``GET /exp/bench`` through the Flask app (Werkzeug's
test client, no server): the view, the run's creation with its condition, the per-IP
limit, the commit and the task page. The figure is the CPU time (``time.process_time``) of
one process per arrival, the median over ``--rounds`` blocks of ``--arrivals``; one
thread, so other processes on the machine change it little. The baseline is the bare
Flask app of ``bench/baseline_app.py`` answering the same requests, measured in the same
run; the ratio says how many of its answers one arrival costs.

This machine's speed drifts by a fifth within minutes, so before/after comparisons are
better made in instructions, which valgrind counts exactly. ``--arrive N`` only makes 30 +
N arrivals (on SQLite, or on ``--postgres``) and prints nothing; the difference between
two such runs under ``valgrind --tool=callgrind``, divided by the difference in N, is the
instructions per arrival (this process only, not PostgreSQL's):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/entry_cost.py --arrive 20
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/entry_cost.py --arrive 120
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.save_path import LIMITS, bench_app, databases, fresh_schema


def entry_url(n: int) -> str:
    return (f"/exp/bench?assignmentId=ENTRYCOST{n:021d}&hitId=ENTRYCOSTHIT"
            f"&workerId=AENTRYCOST{n:08d}&turkSubmitTo=https://workersandbox.mturk.com")


def arrivals_of(app: Any) -> Callable[[], None]:
    """A function that makes one more new worker arrive; the first 30 calls are made here,
    as a warm-up."""
    client = app.test_client()
    numbers = count()

    def arrive() -> None:
        response = client.get(entry_url(next(numbers)))
        if response.status_code != 200:
            raise RuntimeError(f"entry answered {response.status_code}: {response.data[:200]!r}")

    for _ in range(30):
        arrive()
    return arrive


def cpu_per_arrival(app: Any, arrivals: int, rounds: int) -> float:
    """Median over the rounds of the CPU microseconds per arrival (after a warm-up)."""
    arrive = arrivals_of(app)
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(arrivals):
            arrive()
        figures.append((time.process_time() - started) / arrivals * 1e6)
    return statistics.median(figures)


def experiment_host_app(url: str) -> Any:
    fresh_schema(url)
    app = bench_app(url)
    app.config.update({name: int(value) for name, value in LIMITS.items()})
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arrivals", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its tables are dropped)")
    parser.add_argument("--arrive", type=int, metavar="N",
                        help="only make 30 + N arrivals, for counting instructions")
    args = parser.parse_args()
    from bench.baseline_app import create_app as baseline_app

    urls = databases(args.postgres)
    if args.arrive is not None:
        arrive = arrivals_of(experiment_host_app(urls.get("postgresql", urls["sqlite"])))
        for _ in range(args.arrive):
            arrive()
        return
    print(f"== one new worker's entry, in process: CPU per arrival, median of {args.rounds} "
          f"rounds of {args.arrivals}")
    baseline = cpu_per_arrival(baseline_app(), args.arrivals, args.rounds)
    print(f"{'baseline':<12} {baseline:7.0f} us", flush=True)
    for name, url in urls.items():
        app = experiment_host_app(url)
        cost = cpu_per_arrival(app, args.arrivals, args.rounds)
        with app.app_context():
            from experiment_host.extensions import db

            db.engine.dispose()
        print(f"{name:<12} {cost:7.0f} us  ({cost / baseline:.1f}x the baseline)", flush=True)


if __name__ == "__main__":
    main()
