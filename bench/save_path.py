"""Save-path benchmarks against gunicorn: the real flow vs a bare-Flask baseline, same run.

    .venv/bin/python bench/save_path.py [--participants 500] [--postgres URL] [--only NAME]
    .venv/bin/python bench/save_path.py --ablate [--postgres URL]

Scenarios (each bounded in count; the load generator runs on the same 2-core machine):
  save      N participants (enter, 200 trials, complete) at concurrency 16 and 64, on SQLite
            and PostgreSQL, against the baseline app's requests/s. Trials go one record per
            request, as static/js/experiment-host.js sends them while the server keeps up
            (it batches up to 50 only what queued while a request was out or the network
            was down); --batch 50 measures that catch-up shape instead.
  growth    saves/s and p99 with 10, 200 and 2,000 trials per participant (flat = O(1)).
  entry     new participants per second on an empty database vs one holding 100,000 runs
            (and vs 100,000 runs of which 5,000 are in progress, then also 1,000 in progress
            but quiet: the runs each arrival counts).
  pages     the task page (a resumed run) and its script, gzip, at concurrency 64.
  --ablate  the save scenario at concurrency 64 with every speed-up on, and with each one
            switched off (SPEEDUP_*, docs/operations.md), interleaved over 3 rounds or more:
            each piece's gain beside the spread of the all-on rounds (the run's noise).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.participants import Outcome, Participant
from bench.servers import BENCH_EXPERIMENTS, Gunicorn

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy import Engine

LIMITS = {"NEW_RUNS_PER_IP_PER_HOUR": "10000000", "RUN_REQUESTS_PER_MINUTE": "10000000"}
#: Records per save request: the client library sends each record as soon as it is queued.
CLIENT_BATCH = 1


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) used so far by the gunicorn processes, the PostgreSQL server
    processes and this load generator (all its threads).

    A process is PostgreSQL's by its name (every backend is called ``postgres``) and
    gunicorn's by its command line; the load generator's own command line, which may
    hold a PostgreSQL URL, counts as neither.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"gunicorn": 0.0, "postgres": 0.0}
    for entry in Path("/proc").iterdir():
        if entry.name == str(os.getpid()):
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        kind = "postgres" if name == "postgres" else \
            "gunicorn" if any(part.endswith(b"gunicorn") for part in command[:3]) else None
        if kind:
            values = fields.split()
            used[kind] += (int(values[11]) + int(values[12])) / ticks
    mine = os.times()
    used["loadgen"] = mine.user + mine.system
    return used


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0


def drive(url: str, participants: int, trials: int, concurrency: int, first: int = 0,
          batch: int = CLIENT_BATCH) -> dict[str, float]:
    """Run participants through the flow; return throughput, latency and server CPU figures."""
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes: list[Outcome] = list(pool.map(
            lambda n: Participant(url, "bench", first + n).run(trials, batch),
            range(participants)))
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds()
    latencies = [s for o in outcomes for _, s in o.latencies]
    by_kind = {kind: [s for o in outcomes for k, s in o.latencies if k == kind]
               for kind in ("enter", "save", "complete")}
    saves = by_kind["save"]
    return {
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "records_per_s": sum(len(o.acknowledged) for o in outcomes) / elapsed,
        "saves_per_s": len(saves) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        # Each kind of request's own tail (entries queue on their experiment's row).
        **{f"{kind}_p99_ms": percentile(values, 99) * 1000 if values else 0.0
           for kind, values in by_kind.items()},
        "errors": sum(len(o.errors) for o in outcomes),
        "retries": sum(o.retries for o in outcomes),
        # Server CPU per request, in microseconds, by kind of process.
        **{f"{kind}_us": (cpu_after[kind] - cpu_before[kind]) / max(len(latencies), 1) * 1e6
           for kind in cpu_after},
    }


def host(database_url: str, settings: dict[str, str] | None = None) -> Gunicorn:
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "bench",
           "EXPERIMENTS_DIR": str(BENCH_EXPERIMENTS), **LIMITS, **(settings or {})}
    return Gunicorn(env)


def databases(postgres: str | None) -> dict[str, str]:
    """The databases a benchmark runs on: a new SQLite file, and ``postgres`` if given."""
    folder = Path(tempfile.mkdtemp(prefix="experiment-host-bench-"))
    return {"sqlite": f"sqlite:///{folder / 'bench.sqlite3'}",
            **({"postgresql": postgres} if postgres else {})}


def bench_app(database_url: str) -> Flask:
    """The app as the benchmarks build it in process (serving bench/experiments)."""
    from experiment_host import create_app

    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench",
                       "EXPERIMENTS_DIR": str(BENCH_EXPERIMENTS)})


def analyze(engine: Engine) -> None:
    """Make the planner statistics a live database has, and on PostgreSQL its visibility
    map too (autovacuum keeps both on a live database; a bulk load needs them made).
    Without the visibility map, an index-only scan reads every row it counts from the
    table as well: an arrival counting 1,000 quiet runs fetched 1,000 rows."""
    command = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(command)


def fresh_schema(database_url: str, runs: int = 0, active: int = 0, quiet: int = 0) -> None:
    """Drop and create the tables; optionally prefill ``runs`` runs, of which the last
    ``active`` are in progress and seen just now, the ``quiet`` before them in progress but
    last seen two days ago, and the others completed."""
    from experiment_host.extensions import db
    from experiment_host.models import ExperimentRow, Platform, Run, RunStatus, utcnow

    app = bench_app(database_url)
    first_quiet, first_active = runs - active - quiet, runs - active
    with app.app_context():
        db.drop_all()
        db.create_all()
        if runs:
            db.session.add(ExperimentRow(slug="bench", previews=0, arrivals=runs))
            now = utcnow()
            long_ago = now - timedelta(days=2)
            rows = [{"experiment_slug": "bench", "platform": Platform.MTURK,
                     "worker_id": f"APREFILL{i:09d}", "session_key": f"PREFILL{i:023d}",
                     "condition": "ab"[i % 2], "attempt": 1,
                     "record_count": 0, "created_at": now,
                     "last_seen_at": long_ago if first_quiet <= i < first_active else now,
                     **({"status": RunStatus.IN_PROGRESS} if i >= first_quiet else
                        {"status": RunStatus.COMPLETED, "completed_at": now}),
                     "rate_window": 0, "rate_count": 0}
                    for i in range(runs)]
            for start in range(0, runs, 10_000):
                db.session.execute(db.insert(Run), rows[start:start + 10_000])
        db.session.commit()
        if runs:
            analyze(db.engine)
        db.engine.dispose()


def show(label: str, figures: dict[str, float], baseline: dict[str, float] | None = None) -> None:
    ratio = ""
    if baseline:
        share = figures["requests_per_s"] / baseline["requests_per_s"]
        ratio = f"  ratio vs baseline req/s {share:.2f}"
    print(f"{label:<34} {figures['requests_per_s']:8.0f} req/s {figures['records_per_s']:9.0f} "
          f"records/s  p50 {figures['p50_ms']:6.1f} ms  p95 {figures['p95_ms']:6.1f} ms  "
          f"p99 {figures['p99_ms']:6.1f} ms  errors {figures['errors']:.0f}  cpu/req gunicorn "
          f"{figures['gunicorn_us']:4.0f} us postgres {figures['postgres_us']:4.0f} us "
          f"load generator {figures['loadgen_us']:4.0f} us{ratio}\n"
          f"{'':<34} p99 of entries {figures['enter_p99_ms']:6.1f} ms, saves "
          f"{figures['save_p99_ms']:6.1f} ms, completions {figures['complete_p99_ms']:6.1f} ms",
          flush=True)


def save_scenario(databases: dict[str, str], participants: int, batch: int) -> None:
    print(f"\n== save path: {participants} participants x 200 trials ({batch} per request)")
    for concurrency in (16, 64):
        for name, url in databases.items():
            # Same gunicorn.conf.py and environment (so the same worker count) as the app.
            baseline_server = Gunicorn({"DATABASE_URL": url}, app="bench.baseline_app:app").start()
            try:
                baseline = drive(baseline_server.url, participants, 200, concurrency,
                                 batch=batch)
            finally:
                baseline_server.stop()
            show(f"baseline for {name} c={concurrency}", baseline)
            fresh_schema(url)
            server = host(url).start()
            try:
                show(f"experiment_host {name} c={concurrency}",
                     drive(server.url, participants, 200, concurrency, batch=batch), baseline)
            finally:
                server.stop()


def save_only(url: str, participants: int, trials: int, concurrency: int, first: int
              ) -> dict[str, float]:
    """Enter everyone first (untimed), then time only the saves: the cost of saving alone.

    The saving runs in ``concurrency`` lanes, each one HTTP connection kept for all its
    participants in turn, so that the lines differ in trials per participant and not in
    connections opened (10 trials each would otherwise open a connection every 10 saves).
    """
    people = [Participant(url, "bench", first + n) for n in range(participants)]
    with ThreadPoolExecutor(concurrency) as pool:
        tokens = list(pool.map(lambda p: p.enter(), people))
    for person in people:
        person.outcome.latencies.clear()
        # The lanes start on new connections: one left from the entry phase may have been
        # closed by gunicorn's keep-alive timeout, and the retry pause timed as saving.
        person.close()

    def lane(pairs: list[tuple[Participant, str]]) -> None:
        connection = None
        for person, token in pairs:
            person.connection = connection
            person.save(token, trials, CLIENT_BATCH)
            connection, person.connection = person.connection, None
        if connection is not None:
            connection.close()

    pairs = list(zip(people, tokens, strict=True))
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lane, [pairs[start::concurrency] for start in range(concurrency)]))
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds()
    saves = [s for p in people for kind, s in p.outcome.latencies if kind == "save"]
    server_cpu = sum(cpu_after[kind] - cpu_before[kind] for kind in ("gunicorn", "postgres"))
    return {"saves_per_s": len(saves) / elapsed, "save_p50_ms": percentile(saves, 50) * 1000,
            "save_p99_ms": percentile(saves, 99) * 1000, "saves": len(saves),
            "server_us": server_cpu / max(len(saves), 1) * 1e6,
            "retries": sum(p.outcome.retries for p in people)}


Line = TypeVar("Line")


def alternating_rounds(lines: Sequence[Line], rounds: int) -> Iterator[tuple[int, Line]]:
    """Each line once per round, in reversed order every other round, so that a machine
    whose speed drifts during the run shifts every line alike."""
    for round_number in range(rounds):
        for line in lines if round_number % 2 == 0 else lines[::-1]:
            yield round_number, line


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over one line's rounds."""
    return {key: statistics.median(figures[key] for figures in runs) for key in runs[0]}


GROWTH_LINES = ((10, 3200), (200, 160), (2000, 16))  # trials per participant, participants


def growth_scenario(databases: dict[str, str], rounds: int = 4) -> None:
    """The same 32,000 saves per line, in 16 lanes of equal length (a last short wave would
    run at lower concurrency and look slower for it). The lines run ``rounds`` times, in
    alternating order, so that a machine whose speed drifts during the run shifts them
    alike; each line's figure is its median, and the spread of a line over its own rounds
    shows how far the machine moved meanwhile (a difference between lines smaller than that
    is not one this run can tell). The server's CPU per save (gunicorn and PostgreSQL)
    is printed beside: the cost itself, which a slower machine moves less than saves/s."""
    print(f"\n== cost growth: save requests only (one record each), by trials per participant, "
          f"c=16, {rounds} rounds in alternating order")
    for name, url in databases.items():
        fresh_schema(url)
        server = host(url).start()
        results: dict[int, list[dict[str, float]]] = {trials: [] for trials, _ in GROWTH_LINES}
        try:
            for round_number, (trials, people) in alternating_rounds(GROWTH_LINES, rounds):
                figures = save_only(server.url, people, trials, 16,
                                    first=round_number * 10_000_000 + trials * 1000)
                results[trials].append(figures)
                print(f"{name:<10} round {round_number} {trials:>5} trials x {people:>4}: "
                      f"{figures['saves_per_s']:7.0f} saves/s  p99 "
                      f"{figures['save_p99_ms']:6.1f} ms  server cpu/save "
                      f"{figures['server_us']:5.0f} us  retries {figures['retries']:.0f}",
                      flush=True)
        finally:
            server.stop()
        line_medians = {trials: medians(runs) for trials, runs in results.items()}
        for trials, people in GROWTH_LINES:
            rates = [f["saves_per_s"] for f in results[trials]]
            median = line_medians[trials]
            print(f"{name:<10} median {trials:>5} trials x {people:>4}: "
                  f"{median['saves_per_s']:7.0f} saves/s (rounds {min(rates):.0f}"
                  f"-{max(rates):.0f})  p99 {median['save_p99_ms']:6.1f} ms  "
                  f"server cpu/save {median['server_us']:5.0f} us", flush=True)
        for key, label in (("saves_per_s", "saves/s"), ("save_p99_ms", "p99"),
                           ("server_us", "server cpu/save")):
            values = [median[key] for median in line_medians.values()]
            print(f"{name:<10} {label}: largest line / smallest line "
                  f"{max(values) / min(values):.2f}", flush=True)
        spreads = [max(f["saves_per_s"] for f in runs) / min(f["saves_per_s"] for f in runs)
                   for runs in results.values()]
        print(f"{name:<10} saves/s of one line, fastest round / slowest round: "
              f"up to {max(spreads):.2f}", flush=True)


ENTRY_LINES = ((0, 0, 0), (100_000, 0, 0), (100_000, 5_000, 0), (100_000, 5_000, 1_000))


def entry_scenario(databases: dict[str, str], entries: int = 1000, rounds: int = 2) -> None:
    """New participants per second on databases prefilled with (runs, in progress, quiet)
    runs: finished and in-progress runs are tallied; each arrival counts the quiet ones.
    The lines run ``rounds`` times in alternating order (one run of a line swung by a
    third on this machine); each line's figure is its median, with its ratio to the empty
    database's."""
    print(f"\n== entry: {entries} new participants (enter only) at c=16, {rounds} rounds in "
          f"alternating order; ratio against the empty database")
    for name, url in databases.items():
        results: dict[tuple[int, int, int], list[dict[str, float]]] = {
            line: [] for line in ENTRY_LINES}
        for round_number, line in alternating_rounds(ENTRY_LINES, rounds):
            fresh_schema(url, *line)
            server = host(url).start()
            try:
                figures = drive(server.url, entries, 0, 16, first=10_000_000)
            finally:
                server.stop()
            figures["entries_per_s"] = figures["requests_per_s"] / 2  # enter, complete
            results[line].append(figures)
            print(f"{name:<10} round {round_number} {_entry_line(line)}: "
                  f"{figures['entries_per_s']:7.0f} entries/s  p99 "
                  f"{figures['p99_ms']:6.1f} ms  errors {figures['errors']:.0f}", flush=True)
        line_medians = {line: medians(runs) for line, runs in results.items()}
        empty = line_medians[ENTRY_LINES[0]]["entries_per_s"]
        for line, median in line_medians.items():
            print(f"{name:<10} median  {_entry_line(line)}: {median['entries_per_s']:7.0f} "
                  f"entries/s  p99 {median['p99_ms']:6.1f} ms  "
                  f"ratio {median['entries_per_s'] / empty:.2f}", flush=True)


#: The save path's speed-ups, each with its switch and the databases it does anything on.
SPEEDUPS = {
    "plain saves": ("SPEEDUP_PLAIN_SAVES", ("sqlite", "postgresql")),
    "group commit": ("SPEEDUP_GROUP_COMMIT", ("sqlite", "postgresql")),
    "gevent gather": ("SPEEDUP_GATHER", ("sqlite", "postgresql")),
    "driver statements": ("SPEEDUP_DRIVER_STATEMENTS", ("sqlite", "postgresql")),
    "pipelined transactions": ("SPEEDUP_PIPELINED_TRANSACTIONS", ("postgresql",)),
    "autocommit engine": ("SPEEDUP_AUTOCOMMIT_ENGINE", ("postgresql",)),
}
ALL_ON = "all on"


#: The pieces that act when a participant arrives (the experiment's lock, count and insert).
ENTRY_PIECES = ("driver statements", "pipelined transactions")


def ablate_scenario(databases: dict[str, str], participants: int, rounds: int,
                    concurrency: int = 64, entry: bool = False) -> None:
    """The save scenario with every speed-up on, and with each one off, per database.

    The lines run ``rounds`` times in alternating order, each on a fresh schema and a fresh
    server, so that a machine whose speed drifts shifts them alike. A piece's gain is the
    all-on median over its off median; the run's noise is the spread of the all-on rounds
    (fastest minus slowest, over their median). A gain within that noise is one this run
    cannot tell from none. With ``entry``, the arrival path instead: new participants only
    (enter and complete, no trials) at c=16, for the pieces that act there."""
    trials, what = (1, "new participants (enter, 1 trial, complete)") if entry else (
        200, "participants x 200 trials (1 per request)")
    print(f"\n== speed-up ablation{' of arrivals' if entry else ''}: {participants} {what} "
          f"at c={concurrency}, {rounds} rounds in alternating order")
    for name, url in databases.items():
        lines = [ALL_ON, *(piece for piece, (_, where) in SPEEDUPS.items()
                           if name in where and (not entry or piece in ENTRY_PIECES))]
        results: dict[str, list[dict[str, float]]] = {line: [] for line in lines}
        started, load = time.monotonic(), os.getloadavg()
        print(f"{name}: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start",
              flush=True)
        for round_number, line in alternating_rounds(lines, rounds):
            fresh_schema(url)
            settings = {} if line == ALL_ON else {SPEEDUPS[line][0]: "false"}
            server = host(url, settings).start()
            try:
                figures = drive(server.url, participants, trials, concurrency,
                                **({"first": 10_000_000} if entry else {}))
            finally:
                server.stop()
            results[line].append(figures)
            label = line if line == ALL_ON else f"{line} off"
            print(f"{name:<10} round {round_number} {label:<26} "
                  f"{figures['requests_per_s']:7.0f} req/s  p99 {figures['p99_ms']:6.1f} ms  "
                  f"errors {figures['errors']:.0f}  cpu/req gunicorn "
                  f"{figures['gunicorn_us']:4.0f} us postgres {figures['postgres_us']:4.0f} us",
                  flush=True)
        load = os.getloadavg()
        print(f"{name}: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end, "
              f"{time.monotonic() - started:.0f} s in all", flush=True)
        print(ablation_table(name, results), flush=True)


def ablation_table(database: str, results: dict[str, list[dict[str, float]]]) -> str:
    """One row per piece: req/s all on and off (median, min-max), gain, noise, verdict."""
    def rates(line: str) -> list[float]:
        return [figures["requests_per_s"] for figures in results[line]]

    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):6.0f} ({min(values):.0f}-{max(values):.0f})"

    on = rates(ALL_ON)
    on_median = statistics.median(on)
    noise = (max(on) - min(on)) / on_median * 100
    p99_on = statistics.median(figures["p99_ms"] for figures in results[ALL_ON])
    rows = [f"{database}: all on {spread(on)} req/s, p99 {p99_on:.1f} ms, "
            f"errors {sum(f['errors'] for f in results[ALL_ON]):.0f}",
            f"{'piece':<24} {'req/s all on':>20} {'req/s off':>20} {'gain %':>7} "
            f"{'noise %':>7}  {'p99 off ms':>10}  verdict"]
    for line, runs in results.items():
        if line == ALL_ON:
            continue
        off = rates(line)
        gain = (on_median / statistics.median(off) - 1) * 100
        verdict = "earns its lines" if gain > noise else "within noise"
        p99_off = statistics.median(figures["p99_ms"] for figures in runs)
        rows.append(f"{line:<24} {spread(on):>20} {spread(off):>20} {gain:7.1f} {noise:7.1f}  "
                    f"{p99_off:10.1f}  {verdict}"
                    + (f" (errors {sum(f['errors'] for f in runs):.0f})"
                       if any(f["errors"] for f in runs) else ""))
    return "\n".join(rows)


def _entry_line(line: tuple[int, int, int]) -> str:
    runs, active, quiet = line
    return f"with {runs:>7} runs, {active:>5} in progress, {quiet:>5} quiet"


def fetch_all(port: int, path: str, requests: int, concurrency: int = 64
              ) -> tuple[float, list[float], int, str]:
    """GET ``path`` ``requests`` times, each on a new connection, ``concurrency`` at once;
    requests/s, latencies, and the size and encoding of the first answer."""

    def fetch(_: int) -> tuple[float, int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = connection.getresponse()
        size = len(response.read())
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return time.perf_counter() - started, size, response.getheader("Content-Encoding") or "-"

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(fetch, range(requests)))
    elapsed = time.perf_counter() - started
    return requests / elapsed, [r[0] for r in results], results[0][1], results[0][2]


def pages_scenario(url: str, requests: int = 3000) -> None:
    """The task page (a resumed run) and its script, against the bare-Flask baseline
    answering the same URLs under the same gunicorn config: its page is a constant string
    and its script the same file, from Flask's static route, uncompressed."""
    print(f"\n== page serving at c=64: {requests} requests each, new connection each")
    fresh_schema(url)
    query = ("assignmentId=BENCHASSIGN0000000000000000001&hitId=BENCHHIT"
             "&workerId=ABENCH00000001&turkSubmitTo=https://workersandbox.mturk.com")
    paths = (("task page (resume)", f"/exp/bench?{query}"),
             ("static/js/experiment-host.js", "/static/js/experiment-host.js"))
    baseline_server = Gunicorn({"DATABASE_URL": url}, app="bench.baseline_app:app").start()
    try:
        baselines = {label: fetch_all(baseline_server.port, path, requests)[0]
                     for label, path in paths}
    finally:
        baseline_server.stop()
    server = host(url).start()
    try:
        Participant(server.url, "bench", 1).enter()
        for label, path in paths:
            per_second, latencies, size, encoding = fetch_all(server.port, path, requests)
            p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
            print(f"{label:<30} {per_second:7.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
                  f"{size} bytes ({encoding})  baseline {baselines[label]:7.0f} req/s  "
                  f"ratio {per_second / baselines[label]:.2f}", flush=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=500)
    parser.add_argument("--batch", type=int, default=CLIENT_BATCH,
                        help="records per save request (default: %(default)s, as the client)")
    parser.add_argument("--postgres", default="", help="PostgreSQL URL to benchmark as well")
    parser.add_argument("--only", choices=["save", "growth", "entry", "pages"])
    parser.add_argument("--growth-rounds", type=int, default=4,
                        help="rounds of the cost-growth lines (default: %(default)s)")
    parser.add_argument("--ablate", action="store_true",
                        help="run only the speed-up ablation (each SPEEDUP_* off in turn), "
                             "of saves and of arrivals")
    parser.add_argument("--ablate-participants", type=int, default=128,
                        help="participants per ablation line and round (default: %(default)s)")
    parser.add_argument("--ablate-entries", type=int, default=1000,
                        help="new participants per arrival-ablation line and round "
                             "(default: %(default)s)")
    parser.add_argument("--ablate-rounds", type=int, default=3,
                        help="ablation rounds, at least 3 (default: %(default)s)")
    args = parser.parse_args()
    urls = databases(args.postgres)
    if args.ablate:
        if args.ablate_rounds < 3 or args.ablate_participants < 64:
            parser.error("--ablate needs at least 3 rounds and 64 participants (c=64)")
        ablate_scenario(urls, args.ablate_participants, args.ablate_rounds)
        ablate_scenario(urls, args.ablate_entries, args.ablate_rounds, 16, entry=True)
        print(json.dumps({"done": True}))
        return
    if args.only in (None, "save"):
        save_scenario(urls, args.participants, args.batch)
    if args.only in (None, "growth"):
        growth_scenario(urls, args.growth_rounds)
    if args.only in (None, "entry"):
        entry_scenario(urls)
    if args.only in (None, "pages"):
        pages_scenario(urls["sqlite"])
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
