"""The save flow under several gunicorn settings, in interleaved rounds, with medians.

    .venv/bin/python bench/interleaved.py --database sqlite --rounds 3 --participants 60 \
        --concurrency 64 base= app= base_t1=GUNICORN_THREADS:1 app_t1=GUNICORN_THREADS:1

Each LABEL=SETTINGS runs the bare-Flask baseline (labels starting with "base") or the app
(any other label) with the given environment (NAME:VALUE pairs, comma-separated) on top of
bench/save_path.py's own. TREE:PATH serves the code of another checkout instead (e.g. a
``git worktree`` of an earlier commit, with the same schema), to compare two commits. One
round runs every label once, in order, so a machine whose speed drifts (this one's bare
baseline moved between 1,600 and 3,500 req/s within minutes) shifts every label alike; the
medians over the rounds are printed last.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.save_path import databases, drive, fresh_schema, host
from bench.servers import ROOT, Gunicorn


def settings(spec: str) -> tuple[str, dict[str, str]]:
    label, _, pairs = spec.partition("=")
    return label, dict(pair.split(":", 1) for pair in pairs.split(",") if pair)


def run_once(label: str, env: dict[str, str], url: str, participants: int, concurrency: int,
             first: int, trials: int = 200) -> dict[str, float]:
    env = dict(env)
    root = Path(env.pop("TREE", ROOT)).resolve()
    if label.startswith("base"):
        server = Gunicorn({"DATABASE_URL": url, **env}, app="bench.baseline_app:app", root=root)
    else:
        fresh_schema(url)
        server = host(url)
        server.env.update(env)
        server.root = root
    server.start()
    try:
        return drive(server.url, participants, trials, concurrency, first=first)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--participants", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--trials", type=int, default=200,
                        help="trials per participant (0: only enter and complete)")
    parser.add_argument("configs", nargs="+", metavar="LABEL=SETTINGS")
    args = parser.parse_args()
    url = args.database
    if url == "sqlite":
        url = databases(None)["sqlite"]
    configs = [settings(spec) for spec in args.configs]
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in configs}
    for round_number in range(args.rounds):
        for label, env in configs:
            figures = run_once(label, env, url, args.participants, args.concurrency,
                               first=round_number * 100_000, trials=args.trials)
            results[label].append(figures)
            print(f"round {round_number} {label:<12} {figures['requests_per_s']:6.0f} req/s  "
                  f"p99 {figures['p99_ms']:6.1f} ms (entries {figures['enter_p99_ms']:6.1f} ms)  "
                  f"cpu/req gunicorn "
                  f"{figures['gunicorn_us']:5.0f} us postgres {figures['postgres_us']:4.0f} us  "
                  f"errors {figures['errors']:.0f}", flush=True)
    print(f"medians over {args.rounds} rounds ({args.participants} participants, "
          f"c={args.concurrency}):")
    for label, runs in results.items():
        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(figures[key] for figures in runs)
        print(f"{label:<12} {median('requests_per_s'):6.0f} req/s  p99 {median('p99_ms'):6.1f} ms"
              f" (entries {median('enter_p99_ms'):6.1f} ms)  cpu/req gunicorn "
              f"{median('gunicorn_us'):5.0f} us postgres {median('postgres_us'):4.0f} us")


if __name__ == "__main__":
    main()
