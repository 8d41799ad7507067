"""One new worker's arrival with PostgreSQL at a network's distance: time and round trips.

    .venv/bin/python bench/entry_distance.py --postgres URL [--delay-ms 2.5] [--arrivals 200]

Several gunicorn hosts share one PostgreSQL server in production, so each round trip to
the database costs a network's round-trip time on top of the work. Arrivals are made one
at a time in process (Werkzeug's test client, as bench/entry_cost.py makes them) through a
loopback proxy (tests/tcp_proxy.py) that passes everything on ``--delay-ms`` later each
way. The baseline is the same arrivals through the proxy without the delay, measured in
the same run; the difference, divided by the round-trip time, is the round trips an arrival
waits for. Each figure is the median over ``--rounds`` blocks of ``--arrivals``, the
delayed and undelayed blocks taking turns.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entry_cost import arrivals_of, experiment_host_app
from bench.save_path import fresh_schema
from tests.tcp_proxy import proxied


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", required=True, help="a PostgreSQL URL (its tables are "
                        "dropped)")
    parser.add_argument("--delay-ms", type=float, default=2.5,
                        help="added each way (default: %(default)s, a round trip of twice that; "
                        "the proxy's own threads add a few tenths of a ms to each message, small "
                        "beside it)")
    parser.add_argument("--arrivals", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    proxies = {delay: proxied(args.postgres, delay / 1000) for delay in (0.0, args.delay_ms)}
    fresh_schema(args.postgres)
    arrive = {delay: arrivals_of(experiment_host_app(url, fresh=False), first=block * 10_000_000)
              for block, (delay, (_, url)) in enumerate(proxies.items())}
    per_arrival: dict[float, list[float]] = {delay: [] for delay in proxies}
    for _ in range(args.rounds):
        for delay, call in arrive.items():
            started = time.perf_counter()
            for _ in range(args.arrivals):
                call()
            per_arrival[delay].append((time.perf_counter() - started) / args.arrivals * 1000)
    near, far = (statistics.median(per_arrival[delay]) for delay in proxies)
    round_trip = 2 * args.delay_ms
    print(f"== one new worker's arrival, PostgreSQL through a proxy, median of {args.rounds} "
          f"rounds of {args.arrivals}")
    print(f"no delay (baseline)         {near:7.2f} ms per arrival")
    print(f"{round_trip:4.1f} ms round trip        {far:7.2f} ms per arrival  ratio vs baseline "
          f"{far / near:.2f}  round trips waited for {(far - near) / round_trip:.1f}")
    for proxy, _ in proxies.values():
        proxy.close()


if __name__ == "__main__":
    main()
