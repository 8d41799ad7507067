"""Small helpers shared by tests."""

from __future__ import annotations

import json
import re
from typing import Any

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


def save_and_complete(client: Any, token: str, count: int = 1) -> Any:
    """Save ``count`` records and complete the run (a run needs data to complete)."""
    client.post("/api/records", json={"token": token, "records": records(0, count)})
    answer = client.post("/api/complete", json={"token": token, "total": count})
    assert answer.status_code == 200, answer.get_json()
    return answer
