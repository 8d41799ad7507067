"""Simulated participants going through the real flow over HTTP (stdlib only).

Shared by the fault tests and the benchmarks: enter the experiment as an MTurk worker, save
trial records in batches the way static/js/experiment-host.js sends them (≤ 50 per request,
one request at a time, resent until acknowledged), then complete (retried until the server
says completed or already_completed). Participants give up only when the server has
acknowledged nothing for a while (:class:`Progress`), not after a fixed time per request:
a loaded machine slows every answer down, but a working server keeps answering someone.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

CONFIG = re.compile(r'<script id="experiment-host-config" type="application/json">(.*?)</script>',
                    re.S)
RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Outcome:
    """What one participant saw."""

    run_id: int | None = None
    acknowledged: set[int] = field(default_factory=set)
    completed: bool = False
    latencies: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    retries: int = 0


class Progress:
    """The server's acknowledgements to a group of participants: each of them keeps waiting
    and retrying while the server acknowledges anyone's request, and gives up once it has
    acknowledged nothing to any of them for ``stall`` seconds (a stuck server, not a slow
    one). Share one among participants that run at the same time."""

    def __init__(self, stall: float = 120.0) -> None:
        self.stall = stall
        self.acknowledged = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def note(self) -> None:
        """One request was acknowledged."""
        with self._lock:
            self.acknowledged += 1
            self._last = time.monotonic()

    def remaining(self) -> float:
        """Seconds left before giving up, unless something is acknowledged meanwhile."""
        return self._last + self.stall - time.monotonic()


class Participant:
    """One worker's session against ``base_url`` (keeps one HTTP connection, like a browser)."""

    def __init__(self, base_url: str, slug: str, n: int, progress: Progress | None = None
                 ) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.slug, self.n = slug, n
        self.progress = progress or Progress()
        self.connection: http.client.HTTPConnection | None = None
        self.outcome = Outcome()

    def _request(self, kind: str, method: str, path: str, body: bytes | None = None
                 ) -> tuple[int, bytes]:
        # An answer is awaited as long as giving up is not due (then the request is resent).
        timeout = max(self.progress.remaining(), 1.0)
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        elif self.connection.sock is not None:
            self.connection.sock.settimeout(timeout)
        started = time.perf_counter()
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            raise
        self.outcome.latencies.append((kind, time.perf_counter() - started))
        return response.status, data

    def _until_ok(self, kind: str, method: str, path: str, body: bytes | None = None,
                  accept: tuple[int, ...] = (200,)) -> tuple[int, bytes]:
        """Send until the answer's status is in ``accept``, while :class:`Progress` allows."""
        delay = 0.05
        while True:
            try:
                status, data = self._request(kind, method, path, body)
                if status in accept:
                    self.progress.note()
                    return status, data
                if status not in RETRYABLE:
                    raise RuntimeError(f"{kind}: HTTP {status}: {data[:200]!r}")
                problem = f"HTTP {status}"
            except (OSError, http.client.HTTPException) as error:
                problem = repr(error)
            if self.progress.remaining() <= 0:
                raise RuntimeError(f"{kind}: gave up: nothing acknowledged to anyone for "
                                   f"{self.progress.stall:.0f} s; last: {problem}")
            self.outcome.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def enter(self) -> str:
        """Accept the HIT: open the entry URL and return the run token."""
        query = urlencode({"assignmentId": f"BENCHASSIGN{self.n:019d}", "hitId": "BENCHHIT",
                           "workerId": f"ABENCH{self.n:08d}",
                           "turkSubmitTo": "https://workersandbox.mturk.com"})
        _, page = self._until_ok("enter", "GET", f"/exp/{self.slug}?{query}")
        config = json.loads(CONFIG.search(page.decode()).group(1))
        self.outcome.run_id = config["run"]["id"]
        return config["token"]

    def save(self, token: str, trials: int, batch: int = 50) -> None:
        """Save ``trials`` records in batches, each resent until acknowledged."""
        for start in range(0, trials, batch):
            records = [{"seq": seq, "data": {"trial": seq, "rt": 350 + seq % 400, "key": "f",
                                              "correct": seq % 3 != 0, "stimulus": "<p>+</p>"}}
                       for seq in range(start, min(start + batch, trials))]
            body = json.dumps({"token": token, "records": records}).encode()
            self._until_ok("save", "POST", "/api/records", body)
            self.outcome.acknowledged.update(r["seq"] for r in records)

    def complete(self, token: str, trials: int) -> None:
        body = json.dumps({"token": token, "total": trials}).encode()
        status, data = self._until_ok("complete", "POST", "/api/complete", body, accept=(200, 409))
        answer = json.loads(data)
        if status == 409 and answer.get("error") != "already_completed":
            raise RuntimeError(f"complete refused: {answer}")
        self.outcome.completed = True

    def close(self) -> None:
        """Close the kept-alive connection; the next request opens another."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def run(self, trials: int, batch: int = 50) -> Outcome:
        """The whole flow; errors are recorded, not raised."""
        try:
            token = self.enter()
            self.save(token, trials, batch)
            self.complete(token, trials)
        except Exception as error:
            self.outcome.errors.append(str(error))
        finally:
            self.close()
        return self.outcome
