"""What one save request costs in process: CPU per ``POST /api/records`` of one record.

    .venv/bin/python bench/save_cost.py [--saves 1000] [--rounds 5] [--postgres URL]

One worker enters, then saves one record per request, as ``experiment-host.js`` does while
the server keeps up, through the Flask app (Werkzeug's test client, no server, one thread).
The figures are the CPU time (user + system) per save of this process (the app) and of
PostgreSQL's server processes, each the median over ``--rounds`` blocks of ``--saves``,
after 50 saves of warm-up (the first registers the record's keys as columns). The
baseline is the bare Flask app of ``bench/baseline_app.py`` answering the same requests,
measured in the same run; the ratio is the app's and the database server's CPU together
against it.

As with ``bench/entry_cost.py``, ``--save N`` makes only 50 + N saves and prints nothing,
for counting instructions under valgrind: the difference between two such runs divided
by the difference in N is the instructions per save. Those are user-space instructions of
this process only: the kernel's work for each round trip to PostgreSQL is not in them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entry_cost import command_line, entry_url
from bench.participants import CONFIG

TRIAL = {"trial": 3, "rt": 512, "key": "f", "correct": True}


def saves_of(app: Any) -> Callable[[], None]:
    """A function that saves the next record of one worker's run; 50 are saved here first."""
    client = app.test_client()
    page = client.get(entry_url(0)).get_data(as_text=True)
    match = CONFIG.search(page)
    if match is None:
        raise RuntimeError(f"no task config on the entry page: {page[:200]!r}")
    token = json.loads(match.group(1))["token"]
    seqs = count()

    def save() -> None:
        body = json.dumps({"token": token, "records": [{"seq": next(seqs), "data": TRIAL}]})
        response = client.post("/api/records", data=body, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"save answered {response.status_code}: {response.data[:200]!r}")

    for _ in range(50):
        save()
    return save


if __name__ == "__main__":
    command_line(__doc__, "one save of one record", saves_of, ("save", "saves", "save"), 1000, 50)
