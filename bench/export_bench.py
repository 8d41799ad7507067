"""Export benchmark: the app's streamed exports against the database's own CSV dump.

Fills a database with ``--records`` trial records (jsPsych-like, with nested objects, lists
and a few keys that only some records have), then measures, each in its own subprocess so
peak memory (ru_maxrss) is that export's alone:

- baseline: PostgreSQL ``COPY trial_records TO STDOUT WITH CSV`` via psycopg's copy, or the
  ``sqlite3`` CLI with ``.mode csv`` on SQLite;
- the app: runs.csv, trials.csv (header from the column registry) and trials.jsonl, through
  the same generators the download view and ``flask export`` use, for all records and for the
  ~10% of condition A (to show memory does not grow with the number of rows).

The records are loaded around the data API (COPY / executemany), so their columns are
registered afterwards by the migration's backfill, which is timed too.

    .venv/bin/python bench/export_bench.py --database postgresql --records 1000000 \
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/experiment_host_bench]
    .venv/bin/python bench/export_bench.py --database sqlite --records 1000000

With ``--psiturk PEER`` (the psiTurk peer harness, ``../shared/peers/psiturk``) it instead fills
psiTurk 3.3.1's database with the same records (``--per-run`` trials per participant; psiTurk
installed by the harness's ``setup.sh`` into its own virtualenv under ``--folder``) and runs
psiTurk's export between every two of our trials exports (and an older checkout's, with
``--before TREE``), printing each one's rows/s and its ratio to psiTurk's rows/s:

    .venv/bin/python bench/export_bench.py --database sqlite postgresql --records 200000 \
        --per-run 100 --psiturk ../shared/peers/psiturk [--before /tmp/old-checkout]

Not part of the test suite. Every figure it prints is measured in that same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export_records import run_records  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/experiment_host_bench"
RECORDS_PER_RUN = 100
T0 = datetime(2026, 5, 1, tzinfo=UTC)
CHILD_TIMEOUT = 900
Row = tuple[int, int, str, datetime]


def database_url(kind: str, folder: Path, postgres: str = PG_BENCH) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'bench.sqlite3'}"
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = make_url(postgres).database
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return postgres


def make_app(url: str) -> Flask:
    from experiment_host import create_app

    return create_app({"SECRET_KEY": "bench", "DATABASE_URL": url,
                       "EXPERIMENTS_DIR": str(ROOT / "tests" / "experiments")})


def fill(app: Flask, records: int, per_run: int = RECORDS_PER_RUN,
         properties: bool = False) -> None:
    from sqlalchemy import insert

    from experiment_host.extensions import db
    from experiment_host.models import ExperimentRow, Run, RunStatus

    runs = records // per_run
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(ExperimentRow(slug="basic"))
        rows = [{"experiment_slug": "basic", "platform": "mturk", "worker_id": f"AW{i:08d}",
                 "session_key": f"AS{i:08d}", "study_key": "HIT1", "attempt": 1,
                 "condition": "A" if i % 10 == 0 else "B", "status": RunStatus.APPROVED,
                 "record_count": per_run, "created_at": T0 + timedelta(minutes=i),
                 "last_seen_at": T0 + timedelta(minutes=i + 9),
                 "completed_at": T0 + timedelta(minutes=i + 9), "completion_code": "C1"}
                for i in range(runs)]
        db.session.execute(insert(Run), rows)
        db.session.commit()
        run_ids = list(db.session.scalars(db.select(Run.id).order_by(Run.id)))
        engine = db.engine
    rng = random.Random(1)
    lines = ((run_id, seq, json.dumps(data), (T0 + timedelta(seconds=seq)))
             for number, run_id in enumerate(run_ids)
             for seq, data in enumerate(run_records(rng, number, per_run, properties)))
    if engine.dialect.name == "postgresql":
        _copy_in(engine, lines)
    else:
        _sqlite_in(engine, lines)


def backfill(app: Flask) -> None:
    """Register the loaded records' columns as migration 0004 does, and time it."""
    from experiment_host.extensions import db
    from experiment_host.saving import backfill_columns

    started = time.perf_counter()
    with app.app_context(), db.engine.begin() as connection:
        counts = backfill_columns(connection, app.config["EXPORT_MAX_COLUMNS"])
    found = ", ".join(f"{slug}: {count} columns" for slug, count in counts.items())
    print(f"backfilled the column registry ({found}) in {time.perf_counter() - started:.1f} s",
          flush=True)


def _copy_in(engine: Engine, lines: Iterator[Row]) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor, cursor.copy(
                "COPY trial_records (run_id, seq, data, received_at) FROM STDIN") as copy:
            for run_id, seq, data, received in lines:
                copy.write_row((run_id, seq, data, received.replace(tzinfo=None)))
        raw.commit()
        with raw.cursor() as cursor:
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def _sqlite_in(engine: Engine, lines: Iterator[Row]) -> None:
    raw = engine.raw_connection()
    try:
        statement = "INSERT INTO trial_records (run_id, seq, data, received_at) VALUES (?,?,?,?)"
        raw.executemany(statement, ((r, s, d, t.replace(tzinfo=None).isoformat(" "))
                                    for r, s, d, t in lines))
        raw.commit()
        raw.execute("ANALYZE")
    finally:
        raw.close()


def child_export(url: str, kind: str, condition: str) -> None:
    """(In a subprocess.) Write one export to /dev/null and print rows, seconds, first byte."""
    from experiment_host.extensions import db
    from experiment_host.researcher.export import ExportOptions
    from experiment_host.researcher.filters import RunFilter
    from experiment_host.researcher.streaming import export_chunks, pseudonym_key

    app = make_app(url)
    with app.app_context():
        engine = db.engine
        options = ExportOptions(pseudonym_key=pseudonym_key(app.config))
    run_filter = RunFilter(conditions=(condition,) if condition else ())
    floor = peak_rss_mib()  # the app loaded, before the export starts
    rows, first_byte, started = 0, None, time.perf_counter()
    with open("/dev/null", "w", encoding="utf-8") as sink:
        for count, text in export_chunks(engine, kind, "basic", run_filter, options):
            if first_byte is None and text:
                first_byte = time.perf_counter() - started
            sink.write(text)
            rows += count
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started,
                      "first_byte": first_byte, "peak_rss_mib": peak_rss_mib(),
                      "floor_mib": floor}))


def child_baseline(url: str) -> None:
    """(In a subprocess.) The database's own CSV dump of trial_records."""
    started, size = time.perf_counter(), 0
    if url.startswith("sqlite"):
        peak = _sqlite_dump(url.removeprefix("sqlite:///"))  # the sqlite3 CLI's own memory
    else:
        import psycopg

        with psycopg.connect(url.replace("+psycopg", "")) as connection, \
                connection.cursor() as cursor, \
                cursor.copy("COPY trial_records TO STDOUT WITH CSV") as copy:
            for block in copy:
                size += len(block)
        peak = peak_rss_mib()  # this Python process (with Flask, SQLAlchemy imported)
    print(json.dumps({"seconds": time.perf_counter() - started, "bytes": size,
                      "peak_rss_mib": round(peak, 1)}))


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) of a process, in MiB.

    Not ru_maxrss: Linux carries a parent's ru_maxrss into a forked child across exec, so the
    children of a big process would all report the parent's size.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc")


def _sqlite_dump(path: str) -> float:
    """Run the sqlite3 CLI's CSV dump; return its peak RSS, read until it exits."""
    script = ".mode csv\n.once /dev/null\nSELECT * FROM trial_records;\n"
    process = subprocess.Popen(["sqlite3", path], stdin=subprocess.PIPE, text=True)
    assert process.stdin is not None
    process.stdin.write(script)
    process.stdin.close()
    peak = 0.0
    while process.poll() is None:
        try:
            peak = max(peak, peak_rss_mib(process.pid))
        except (OSError, RuntimeError):  # exited between poll() and the read
            break
        time.sleep(0.01)
    if process.wait() != 0:
        raise RuntimeError("sqlite3 failed")
    return peak


def measure(*args: str) -> dict[str, Any]:
    """Run this script as a child (a fresh process per export) and read its figures."""
    output = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                            check=True, timeout=CHILD_TIMEOUT).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], nargs="+",
                        default=["postgresql"])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--per-run", type=int, default=RECORDS_PER_RUN,
                        help="Trial records per run (participant).")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/experiment_host_bench"))
    parser.add_argument("--child", nargs="+")
    parser.add_argument("--postgres", default=PG_BENCH,
                        help="PostgreSQL URL for --database postgresql (created if missing).")
    parser.add_argument("--no-fill", action="store_true", help="Reuse the data of a last run.")
    parser.add_argument("--properties", action="store_true",
                        help="Each run's record half-way is a run properties record "
                             "(jsPsych's addProperties), laid over its run's rows in trials.csv.")
    parser.add_argument("--psiturk", type=Path, metavar="PEER",
                        help="The psiTurk peer harness (../shared/peers/psiturk): alternate "
                             "our trials exports with psiTurk's on the same records instead.")
    parser.add_argument("--before", type=Path, metavar="TREE",
                        help="With --psiturk: also alternate the exports of an older checkout.")
    parser.add_argument("--rounds", type=int, default=3, help="With --psiturk.")
    args = parser.parse_args()
    if args.child:
        kind, url, *rest = args.child
        (child_baseline(url) if kind == "baseline" else child_export(url, kind, *rest))
        return
    args.folder.mkdir(parents=True, exist_ok=True)
    urls = {}
    for database in args.database:
        urls[database] = url = database_url(database, args.folder, args.postgres)
        started = time.perf_counter()
        if not args.no_fill:
            fill(make_app(url), args.records, args.per_run, args.properties)
            print(f"filled {args.records:,} trial records in {time.perf_counter() - started:.1f} "
                  f"s ({database})", flush=True)
            backfill(make_app(url))
    if args.psiturk:
        peer = psiturk_peer(args.psiturk, args.folder / "psiturk-peer")
        if not args.no_fill:
            psiturk_fill(peer, args.records // args.per_run, args.per_run, args.properties)
        compare(urls, peer, args.before, args.rounds)
    else:
        for url in urls.values():
            report(url, args.records)


def report(url: str, records: int) -> None:
    plans = [("runs.csv", "--child", "runs.csv", url, ""),
             ("trials.csv condition A", "--child", "trials.csv", url, "A"),
             ("trials.csv", "--child", "trials.csv", url, ""),
             ("trials.jsonl", "--child", "trials.jsonl", url, "")]
    baseline = measure("--child", "baseline", url)
    print(f"{'export':<26}{'rows':>10}{'seconds':>9}{'rows/s':>11}{'vs dump':>9}"
          f"{'1st byte s':>11}{'peak RSS MiB':>14}{'app loaded MiB':>16}")
    _line("database CSV dump", records, baseline, baseline)
    for label, *child in plans:
        figures = measure(*child)
        _line(label, figures["rows"], figures, baseline)


def _line(label: str, rows: int, figures: dict[str, Any], baseline: dict[str, Any]) -> None:
    rate = rows / figures["seconds"]
    ratio = figures["seconds"] / baseline["seconds"]
    first = figures.get("first_byte")
    peak = figures["peak_rss_mib"]
    print(f"{label:<26}{rows:>10,}{figures['seconds']:>9.1f}{rate:>11,.0f}{ratio:>8.1f}x"
          f"{first if first is None else round(first, 2)!s:>11}"
          f"{peak:>14}{figures.get('floor_mib', '-')!s:>16}", flush=True)


def psiturk_peer(harness: Path, place: Path) -> Path:
    """A writable copy of the psiTurk peer harness with its virtualenv (``setup.sh`` installs
    psiTurk 3.3.1 from the package registry), made once."""
    if not (place / ".venv" / "bin" / "psiturk").exists():
        shutil.rmtree(place, ignore_errors=True)
        shutil.copytree(harness, place)
        for path in [place, *place.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        print(f"setting up psiTurk in {place} (setup.sh)", flush=True)
        subprocess.run([str(place / "setup.sh")], check=True, stdout=subprocess.DEVNULL)
    return place


def psiturk_fill(peer: Path, participants: int, trials: int, properties: bool = False) -> None:
    """psiTurk's database, afresh, holding the same trial records as ours."""
    project = peer / "psiturk-example"
    (project / "participants.db").unlink(missing_ok=True)
    shutil.copy(Path(__file__).parent / "export_records.py", peer)
    shutil.copy(Path(__file__).parent / "psiturk_fill.py", peer)
    subprocess.run([str(peer / ".venv" / "bin" / "python"), str(peer / "psiturk_fill.py"),
                    str(participants), str(trials), *(["properties"] if properties else [])],
                   cwd=project, env=psiturk_env(peer),
                   check=True)


def psiturk_env(peer: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AWS_") and key != "PORT"}
    return {**env, "PSITURK_GLOBAL_CONFIG_LOCATION": str(peer)}


def psiturk_export(peer: Path, command: str = "download_datafiles") -> dict[str, Any]:
    """(A subprocess.) psiTurk's only built-in export, ``psiturk download_datafiles``: its
    wall time, peak RSS and trialdata.csv's rows; ``version`` times its start-up alone."""
    project = peer / "psiturk-example"
    for name in ("trialdata.csv", "eventdata.csv", "questiondata.csv"):
        (project / name).unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(peer / "time.out"),
                    str(peer / ".venv" / "bin" / "psiturk"), command], cwd=project,
                   env=psiturk_env(peer), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=CHILD_TIMEOUT)
    seconds = time.perf_counter() - started
    peak = round(int((peer / "time.out").read_text().split()[-1]) / 1024, 1)
    rows = 0
    if command == "download_datafiles":
        with open(project / "trialdata.csv", "rb") as data:
            rows = sum(1 for _ in data)  # no field of these rows holds a line break
    return {"rows": rows, "seconds": seconds, "peak_rss_mib": peak}


def compare(urls: dict[str, str], peer: Path, before: Path | None, rounds: int) -> None:
    """Run psiTurk's export between every two of ours (and an older checkout's), round after
    round, and print each export's rows/s over the mean rows/s of the psiTurk runs on either
    side of it: a machine whose load drifts weighs on both sides of each ratio alike."""
    startup = min(psiturk_export(peer, "version")["seconds"] for _ in range(3))
    print(f"psiTurk start-up (psiturk version, best of 3): {startup:.2f} s; psiTurk's rows/s "
          f"below leave it out, as ours leave out the app's", flush=True)
    contenders = [(f"{kind} {database}", ROOT, kind, url)
                  for database, url in urls.items() for kind in ("trials.csv", "trials.jsonl")]
    if before:
        contenders += [(f"{label} (before)", before, kind, url)
                       for label, _, kind, url in contenders]
    ratios: dict[str, list[float]] = {label: [] for label, *_ in contenders}
    psiturk_rates: list[float] = []
    print(f"{'round':<6}{'export':<34}{'rows':>10}{'seconds':>9}{'rows/s':>10}"
          f"{'x psiTurk':>10}{'peak RSS MiB':>14}  load average", flush=True)

    def psiturk_run() -> tuple[dict[str, Any], float]:
        figures = psiturk_export(peer)
        rate = figures["rows"] / max(figures["seconds"] - startup, 1e-9)
        psiturk_rates.append(rate)
        return figures, rate

    for number in range(1, rounds + 1):
        psiturk, previous = psiturk_run()
        _round_line(number, "psiTurk download_datafiles", psiturk, previous, None)
        for label, tree, kind, url in contenders:
            figures = measure_in(tree, "--child", kind, url, "")
            rate = figures["rows"] / figures["seconds"]
            psiturk, following = psiturk_run()
            ratios[label].append(rate / ((previous + following) / 2))
            _round_line(number, label, figures, rate, ratios[label][-1])
            _round_line(number, "psiTurk download_datafiles", psiturk, following, None)
            previous = following
    print("median of each export's ratios to psiTurk's rows/s (the psiTurk runs either side):")
    for label, values in ratios.items():
        print(f"  {label:<34}{statistics.median(values):>6.2f}x   "
              f"(rounds: {', '.join(f'{value:.2f}' for value in values)})")
    print(f"  psiTurk rows/s, median of {len(psiturk_rates)} runs: "
          f"{statistics.median(psiturk_rates):,.0f}")


def _round_line(number: int, label: str, figures: dict[str, Any], rate: float,
                ratio: float | None) -> None:
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    times = "-" if ratio is None else f"{ratio:.2f}x"
    print(f"{number:<6}{label:<34}{figures['rows']:>10,}{figures['seconds']:>9.2f}{rate:>10,.0f}"
          f"{times:>10}{figures['peak_rss_mib']:>14}  {load}", flush=True)


def measure_in(tree: Path, *args: str) -> dict[str, Any]:
    """:func:`measure` with the benchmark (and so the app) of another checkout."""
    output = subprocess.run([sys.executable, str(tree / "bench" / "export_bench.py"), *args],
                            capture_output=True, text=True, check=True,
                            timeout=CHILD_TIMEOUT).stdout
    return json.loads(output.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
