"""Small helpers shared by tests."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

#: How long a test waits for something that must happen before it calls it a hang. Far
#: beyond what any load on the machine makes it take: every wait ends as soon as the thing
#: happens, so only a hang ever waits this long.
HANG_SECONDS = 300.0

CONFIG = re.compile(rb'<script id="experiment-host-config" type="application/json">(.*?)</script>',
                    re.S)


def task_config(html: bytes) -> dict[str, Any]:
    """The config JSON injected into a task page."""
    match = CONFIG.search(html)
    assert match, html[:500]
    return json.loads(match.group(1))


def records(start: int, stop: int, **extra: Any) -> list[dict[str, Any]]:
    """Trial records with seqs start..stop-1."""
    return [{"seq": i, "data": {"trial": i, "rt": 400 + i, **extra}} for i in range(start, stop)]


def wait_until(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition`` until it holds; fail after :data:`HANG_SECONDS`."""
    deadline = time.monotonic() + HANG_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {HANG_SECONDS:.0f} s")
        time.sleep(0.005)


def save_and_complete(client: Any, token: str, count: int = 1) -> Any:
    """Save ``count`` records and complete the run (a run needs data to complete)."""
    client.post("/api/records", json={"token": token, "records": records(0, count)})
    answer = client.post("/api/complete", json={"token": token, "total": count})
    assert answer.status_code == 200, answer.get_json()
    return answer
