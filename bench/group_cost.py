"""What a plain save costs by how many share its write: CPU per save, in process.

    .venv/bin/python bench/group_cost.py [--writes 400] [--postgres URL]

``K`` workers each have a started run; one write (``plain_saves().save_all``, what the
group commit calls) then stores one record for each of them: one statement on PostgreSQL,
one transaction on SQLite. The figures are the CPU time (user + system) per save of this
one-thread process and of PostgreSQL's server processes, over ``--writes`` writes, for K
of 1, 8 and 32 (under load, K is however many saves a process's requests make while the
write before is out). HTTP and Flask are left out: this is the write alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entry_cost import entry_url, experiment_host_app
from bench.participants import CONFIG
from bench.save_path import cpu_seconds, databases

TRIAL = {"trial": 3, "rt": 512, "key": "f", "correct": True, "stimulus": "<p>+</p>"}


def cost_per_save(url: str, workers: int, writes: int) -> tuple[float, float]:
    """This process's and PostgreSQL's CPU microseconds per save, ``workers`` per write."""
    import json

    from experiment_host.extensions import db
    from experiment_host.saving import RecordIn
    from experiment_host.saving.plain_saves import plain_saves
    from experiment_host.saving.records import plain_save
    from experiment_host.tokens import verify

    app = experiment_host_app(url)
    client = app.test_client()
    tokens = []
    for n in range(workers):
        page = client.get(entry_url(n)).get_data(as_text=True)
        tokens.append(json.loads(CONFIG.search(page).group(1))["token"])
        client.post("/api/records", json={"token": tokens[-1],  # registers the columns
                                          "records": [{"seq": 0, "data": TRIAL}]})
    with app.app_context():
        claims = [verify(token) for token in tokens]
        dialect = db.engine.dialect.name
        saves = plain_saves()
        server_before, started = cpu_seconds()["postgres"], time.process_time()
        for seq in range(1, writes + 1):
            answers = saves.save_all([plain_save(claim, [RecordIn(seq, TRIAL)], dialect)
                                      for claim in claims])
            if None in answers:
                raise RuntimeError(f"a plain save was refused: {answers}")
        own = (time.process_time() - started) / (writes * workers) * 1e6
        server = (cpu_seconds()["postgres"] - server_before) / (writes * workers) * 1e6
        saves.close()
        db.engine.dispose()
    return own, server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=400)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its tables are dropped)")
    args = parser.parse_args()
    print(f"== a plain save's write, in process: CPU per save, {args.writes} writes of K saves")
    for name, url in databases(args.postgres).items():
        for workers in (1, 8, 32):
            own, server = cost_per_save(url, workers, args.writes)
            print(f"{name:<12} K={workers:<3} app {own:5.0f} us + database server {server:4.0f} us"
                  f" per save", flush=True)


if __name__ == "__main__":
    main()
