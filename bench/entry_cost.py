"""What one whole arrival costs in process: CPU per new worker's entry, HTTP aside.

    .venv/bin/python bench/entry_cost.py [--arrivals 300] [--rounds 5] [--postgres URL]

Each arrival is a new MTurk worker's ``GET /exp/bench`` through the Flask app (Werkzeug's
test client, no server): the view, the run's creation with its condition, the per-IP
limit, the commit and the task page. The figures are the CPU time (user + system) per
arrival of this one-thread process (the app) and of PostgreSQL's server processes, each the
median over ``--rounds`` blocks of ``--arrivals``. The baseline is the bare Flask app of
``bench/baseline_app.py`` answering the same requests, measured in the same run; the ratio
says how many of its answers one arrival costs, the database server's work included.

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

from bench.save_path import LIMITS, bench_app, cpu_seconds, databases, fresh_schema


def entry_url(n: int) -> str:
    return (f"/exp/bench?assignmentId=ENTRYCOST{n:021d}&hitId=ENTRYCOSTHIT"
            f"&workerId=AENTRYCOST{n:08d}&turkSubmitTo=https://workersandbox.mturk.com")


def arrivals_of(app: Any, first: int = 0) -> Callable[[], None]:
    """A function that makes one more new worker arrive (numbered from ``first``); the
    first 30 calls are made here, as a warm-up."""
    client = app.test_client()
    numbers = count(first)

    def arrive() -> None:
        response = client.get(entry_url(next(numbers)))
        if response.status_code != 200:
            raise RuntimeError(f"entry answered {response.status_code}: {response.data[:200]!r}")

    for _ in range(30):
        arrive()
    return arrive


def cpu_per_call(call: Callable[[], None], calls: int, rounds: int) -> tuple[float, float]:
    """Medians over the rounds of the CPU microseconds (user + system) per call of ``call``:
    this process's (to the nanosecond), and PostgreSQL's server processes' (in the kernel's
    10 ms ticks, so give it a few hundred calls)."""
    own, server = [], []
    for _ in range(rounds):
        server_before = cpu_seconds()["postgres"]
        started = time.process_time()
        for _ in range(calls):
            call()
        own.append((time.process_time() - started) / calls * 1e6)
        server.append((cpu_seconds()["postgres"] - server_before) / calls * 1e6)
    return statistics.median(own), statistics.median(server)


def report(urls: dict[str, str], calls_of: Callable[[Any], Callable[[], None]], calls: int,
           rounds: int) -> None:
    """Print the CPU per call of the bare baseline and of the app on each database."""
    from bench.baseline_app import create_app as baseline_app

    baseline, _ = cpu_per_call(calls_of(baseline_app()), calls, rounds)
    print(f"{'baseline':<12} app {baseline:6.0f} us", flush=True)
    for name, url in urls.items():
        app = experiment_host_app(url)
        own, server = cpu_per_call(calls_of(app), calls, rounds)
        with app.app_context():
            from experiment_host.extensions import db

            db.engine.dispose()
        print(f"{name:<12} app {own:6.0f} us + database server {server:4.0f} us "
              f"({(own + server) / baseline:.1f}x the baseline)", flush=True)


def experiment_host_app(url: str, fresh: bool = True) -> Any:
    """The app on ``url`` without its rate limits, on new empty tables if ``fresh``."""
    if fresh:
        fresh_schema(url)
    app = bench_app(url)
    app.config.update({name: int(value) for name, value in LIMITS.items()})
    return app


def command_line(doc: str, title: str, calls_of: Callable[[Any], Callable[[], None]],
                 names: tuple[str, str, str], default_calls: int, warm_up: int) -> None:
    """The command line of an in-process cost benchmark. ``names`` are the call's noun, its
    plural (``--arrivals`` / ``--saves``: calls per round) and its verb (``--arrive N`` /
    ``--save N``: only make ``warm_up`` + N calls on one database, printing nothing, for
    valgrind to count)."""
    noun, plural, verb = names
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(f"--{plural}", dest="calls", type=int, default=default_calls)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its tables are dropped)")
    parser.add_argument(f"--{verb}", dest="count", type=int, metavar="N",
                        help=f"only make {warm_up} + N {plural}, for counting instructions")
    args = parser.parse_args()
    urls = databases(args.postgres)
    if args.count is not None:  # on PostgreSQL if given, else on SQLite
        call = calls_of(experiment_host_app(urls.get("postgresql", urls["sqlite"])))
        for _ in range(args.count):
            call()
        return
    print(f"== {title}, in process: CPU per {noun}, median of {args.rounds} rounds of "
          f"{args.calls}")
    report(urls, calls_of, args.calls, args.rounds)


if __name__ == "__main__":
    command_line(__doc__, "one new worker's entry", arrivals_of, ("arrival", "arrivals", "arrive"),
                 300, 30)
