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

Not part of the test suite. Every figure it prints is measured in that same run.
"""

from __future__ import annotations

import argparse
import json
import random
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


def record(rng: random.Random, seq: int) -> dict[str, Any]:
    data = {"trial_type": "html-keyboard-response", "trial_index": seq,
            "time_elapsed": 1500 * seq + rng.randint(0, 999), "rt": rng.randint(200, 2000),
            "stimulus": f"<p style=\"color: red\">word {rng.randint(1, 500)}</p>",
            "response": rng.choice(["f", "j", None]), "correct": rng.random() < 0.8,
            "block": {"n": seq // 20, "name": "main", "meta": {"list": seq % 3}},
            "choices": ["f", "j"]}
    if seq % 10 == 0:
        data["comment"] = rng.choice(["=SUM(A1)", "fine, \"ok\"\nnext line", "ünïcødé 😀"])
    if seq % 50 == 0:
        data["survey"] = {"age": rng.randint(18, 80), "answers": [1, 2, 3]}
    return data


def fill(app: Flask, records: int) -> None:
    from sqlalchemy import insert

    from experiment_host.extensions import db
    from experiment_host.models import ExperimentRow, Run, RunStatus

    runs = records // RECORDS_PER_RUN
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(ExperimentRow(slug="basic"))
        rows = [{"experiment_slug": "basic", "platform": "mturk", "worker_id": f"AW{i:08d}",
                 "session_key": f"AS{i:08d}", "study_key": "HIT1", "attempt": 1,
                 "condition": "A" if i % 10 == 0 else "B", "status": RunStatus.APPROVED,
                 "record_count": RECORDS_PER_RUN, "created_at": T0 + timedelta(minutes=i),
                 "last_seen_at": T0 + timedelta(minutes=i + 9),
                 "completed_at": T0 + timedelta(minutes=i + 9), "completion_code": "C1"}
                for i in range(runs)]
        db.session.execute(insert(Run), rows)
        db.session.commit()
        run_ids = list(db.session.scalars(db.select(Run.id).order_by(Run.id)))
        engine = db.engine
    rng = random.Random(1)
    lines = ((run_id, seq, json.dumps(record(rng, seq)), (T0 + timedelta(seconds=seq)))
             for run_id in run_ids for seq in range(RECORDS_PER_RUN))
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
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/experiment_host_bench"))
    parser.add_argument("--child", nargs="+")
    parser.add_argument("--postgres", default=PG_BENCH,
                        help="PostgreSQL URL for --database postgresql (created if missing).")
    parser.add_argument("--no-fill", action="store_true", help="Reuse the data of a last run.")
    args = parser.parse_args()
    if args.child:
        kind, url, *rest = args.child
        (child_baseline(url) if kind == "baseline" else child_export(url, kind, *rest))
        return
    args.folder.mkdir(parents=True, exist_ok=True)
    url = database_url(args.database, args.folder, args.postgres)
    started = time.perf_counter()
    if not args.no_fill:
        fill(make_app(url), args.records)
        print(f"filled {args.records:,} trial records in {time.perf_counter() - started:.1f} s "
              f"({args.database})", flush=True)
        backfill(make_app(url))
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


if __name__ == "__main__":
    main()
