"""Save-time cost of the trials.csv column registry: one save request, in process.

    .venv/bin/python bench/columns_save_bench.py [--requests 300] [--postgres URL]

Times save requests of 50 jsPsych-like records through the Flask test client (no HTTP
server, so the figures are the app's own work), on SQLite and, with --postgres, PostgreSQL:

  baseline     registration switched off (``records.register_columns`` made a no-op);
  known keys   every key already registered: the common case, no SQL for the registry;
  new key      one key never seen before per request: lock, read and extend the registry;

interleaved request by request (so background load hits all three alike), as medians; and
the registration call alone for a batch whose keys are known (flattening, in Python).
Not part of the test suite; every figure comes from the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402

BATCH = 50
MODES = ("baseline", "known keys", "new key")


def make_app(url: str) -> Flask:
    from experiment_host import create_app
    from experiment_host.extensions import db

    app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url,
                      "EXPERIMENTS_DIR": str(ROOT / "tests" / "experiments"),
                      "RUN_REQUESTS_PER_MINUTE": 10**9, "NEW_RUNS_PER_IP_PER_HOUR": 10**9,
                      "EXPORT_MAX_COLUMNS": 10**6})
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


def record(rng: random.Random, seq: int) -> dict[str, Any]:
    return {"trial_type": "html-keyboard-response", "trial_index": seq,
            "time_elapsed": 1500 * seq, "rt": rng.randint(200, 2000),
            "stimulus": f"<p>word {rng.randint(1, 500)}</p>", "response": "f",
            "correct": rng.random() < 0.8, "block": {"n": seq // 20, "meta": {"list": seq % 3}},
            "choices": ["f", "j"]}


class Saver:
    """One run of the 'open' experiment, saving batch after batch."""

    def __init__(self, app: Flask, n: int) -> None:
        self.client = app.test_client()
        args = {"assignmentId": f"BENCH{n:025d}", "hitId": "HITBENCH",
                "workerId": f"ABENCH{n:08d}", "turkSubmitTo": "https://www.mturk.com"}
        page = self.client.get("/exp/open", query_string=args).get_data(as_text=True)
        config = json.loads(page.split('type="application/json">')[1].split("</script>")[0])
        self.token, self.seq, self.rng = config["token"], 0, random.Random(n)

    def body(self, extra_key: str | None = None) -> str:
        datas = [record(self.rng, self.seq + i) for i in range(BATCH)]
        if extra_key:
            datas[-1][extra_key] = 1
        records = [{"seq": self.seq + i, "data": d} for i, d in enumerate(datas)]
        self.seq += BATCH
        return json.dumps({"token": self.token, "records": records})

    def post(self, body: str) -> float:
        started = time.perf_counter()
        response = self.client.post("/api/records", data=body, content_type="application/json")
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.get_data(as_text=True)
        return elapsed


def measure(app: Flask, requests: int) -> dict[str, list[float]]:
    import experiment_host.saving.records as records

    savers = {mode: Saver(app, n) for n, mode in enumerate(MODES)}
    registering = records.register_columns
    off: Callable[..., None] = lambda connection, slug, datas: None  # noqa: E731
    for saver in savers.values():  # warm up: register the common keys, fill the caches
        saver.post(saver.body())
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for n in range(requests):
        for mode in random.Random(n).sample(MODES, len(MODES)):
            saver = savers[mode]
            body = saver.body(f"new_key_{n}" if mode == "new key" else None)
            records.register_columns = off if mode == "baseline" else registering
            try:
                times[mode].append(saver.post(body))
            finally:
                records.register_columns = registering
    return times


def check_alone(app: Flask) -> float:
    """Seconds per registration call for a batch of known keys (no SQL)."""
    from experiment_host.extensions import db
    from experiment_host.saving.column_registry import register_columns, remember

    rng = random.Random(0)
    datas = [record(rng, seq) for seq in range(BATCH)]
    with app.app_context(), db.engine.begin() as connection:
        remember("open", register_columns(connection, "open", datas))
        number = 2000
        return timeit.timeit(lambda: register_columns(connection, "open", datas),
                             number=number) / number


def report(name: str, app: Flask, requests: int) -> None:
    times = measure(app, requests)
    base = statistics.median(times["baseline"])
    print(f"== {name}: {requests} save requests of {BATCH} records per mode, medians")
    for mode in MODES:
        median = statistics.median(times[mode])
        print(f"{mode:<12} {median * 1000:7.2f} ms   p90 "
              f"{statistics.quantiles(times[mode], n=10)[-1] * 1000:7.2f} ms   "
              f"{median / base:5.2f}x baseline", flush=True)
    print(f"registration check alone, {BATCH} known-key records: "
          f"{check_alone(app) * 1e6:.0f} µs", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres", help="PostgreSQL URL (its tables are dropped first).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report("sqlite", make_app(f"sqlite:///{folder}/bench.sqlite3"), args.requests)
    if args.postgres:
        report("postgresql", make_app(args.postgres), args.requests)


if __name__ == "__main__":
    main()
