"""Concurrent first uses of one Personal Single link create exactly one run."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.links.models import LinkEntry

THREADS = 8


def test_concurrent_first_uses_make_one_run(app, make_links, run_count):
    [(token, _)] = make_links("personal-single")
    barrier = threading.Barrier(THREADS)

    def use(_: int) -> tuple[int, str]:
        client = app.test_client()
        barrier.wait()
        answer = client.get(f"/l/{token}")
        return answer.status_code, answer.headers.get("Location", "")

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(use, range(THREADS)))
    assert Counter(status for status, _ in answers) == {303: THREADS}
    assert len({location for _, location in answers}) == 1  # every one to the same run
    assert run_count() == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LinkEntry)) == 1
