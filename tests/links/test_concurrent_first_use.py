"""Concurrent first uses: of one Personal Single link, exactly one run; of a batch with a
maximum, never more runs than its places."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from experiment_host.extensions import db
from experiment_host.links.models import LinkEntry, LinkPlace
from experiment_host.links.store import batch_named

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


def test_simultaneous_arrivals_never_take_more_places_than_the_batch_has(app, make_links,
                                                                          run_count):
    [(token, _)] = make_links("general-multiple", batch="Lab")
    with app.app_context():
        batch_named("open", "Lab").max_participants = 3
        db.session.commit()
    barrier = threading.Barrier(THREADS)

    def use(_: int) -> int:
        client = app.test_client()
        barrier.wait()
        return client.get(f"/l/{token}").status_code

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = Counter(pool.map(use, range(THREADS)))
    assert statuses == {303: 3, 403: THREADS - 3}
    assert run_count() == 3
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LinkPlace)) == 3
        db.session.commit()
