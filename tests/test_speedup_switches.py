"""The save path's speed-ups (``SPEEDUP_*``) are for speed only: with any one switched off,
the same records are stored and the same answers given, on SQLite and PostgreSQL, and the
piece switched off is not used (so ``bench/save_path.py --ablate`` measures the path without it)."""

from __future__ import annotations

from collections import Counter
from functools import wraps
from typing import Any

import pytest
from sqlalchemy import select

from experiment_host import driver_statements
from experiment_host.extensions import db
from experiment_host.models import Run, TrialRecord
from experiment_host.saving import group_commit, plain_saves
from tests.conftest import build_app, dispose
from tests.helpers import records, task_config

#: Each switch and the functions only its piece calls: (owner, attribute name).
PIECES: dict[str, list[tuple[Any, str]]] = {
    "SPEEDUP_PLAIN_SAVES": [(plain_saves.SqlitePlainSaves, "save_all"),
                            (plain_saves.PostgresPlainSaves, "save_all")],
    "SPEEDUP_GROUP_COMMIT": [(group_commit.GroupCommit, "submit")],
    # PostgreSQL's gather runs under gevent only (test_the_gather_switch_leaves_no_gather).
    "SPEEDUP_GATHER": [(plain_saves, "_let_ready_requests_in")],
    "SPEEDUP_DRIVER_STATEMENTS": [(driver_statements.DriverStatement, "_on_cursor")],
    "SPEEDUP_PIPELINED_TRANSACTIONS": [(driver_statements, "_pipelined")],
    "SPEEDUP_AUTOCOMMIT_ENGINE": [(plain_saves, "autocommit_engine")],
}
#: The pieces each database uses when all are on (in process, without gevent).
USED = {"sqlite": {"SPEEDUP_PLAIN_SAVES", "SPEEDUP_GROUP_COMMIT", "SPEEDUP_GATHER",
                   "SPEEDUP_DRIVER_STATEMENTS"},
        "postgresql": {"SPEEDUP_PLAIN_SAVES", "SPEEDUP_GROUP_COMMIT",
                       "SPEEDUP_DRIVER_STATEMENTS", "SPEEDUP_PIPELINED_TRANSACTIONS",
                       "SPEEDUP_AUTOCOMMIT_ENGINE"}}


def count_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count, per switch, the calls of its piece's functions from now on."""
    calls: Counter[str] = Counter()
    for switch, functions in PIECES.items():
        for owner, name in functions:
            original = getattr(owner, name)

            def counted(*args: Any, _original: Any = original, _switch: str = switch,
                        **kwargs: Any) -> Any:
                calls[_switch] += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(owner, name, wraps(original)(counted))
    return calls


def ok(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, body


def answer(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status_code, response.get_json()


@pytest.mark.parametrize("switched_off", [None, *PIECES])
def test_the_save_path_answers_alike_with_each_speedup_off(database_url, switched_off,
                                                           monkeypatch):
    calls = count_calls(monkeypatch)
    app = build_app(database_url, **({switched_off: False} if switched_off else {}))
    client = app.test_client()
    try:
        args = {"assignmentId": "SWITCH000000000000000000000001", "hitId": "H",
                "workerId": "ASWITCH0000001", "turkSubmitTo": "https://www.mturk.com"}
        config = task_config(client.get("/exp/open", query_string=args).data)
        token, run_id = config["token"], config["run"]["id"]

        def save(batch: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
            return answer(client.post("/api/records", json={"token": token, "records": batch}))

        def complete(total: int) -> tuple[int, dict[str, Any]]:
            return answer(client.post("/api/complete", json={"token": token, "total": total}))

        assert save(records(0, 5)) == ok({"stored": 5, "duplicates": 0, "saved": 5,
                                          "next_seq": 5})
        assert save(records(5, 6)) == ok({"stored": 1, "duplicates": 0, "saved": 6,
                                          "next_seq": 6})
        assert save(records(5, 6)) == ok({"stored": 0, "duplicates": 1, "saved": 6,
                                          "next_seq": 6})  # a retried request
        assert save(records(3, 8)) == ok({"stored": 2, "duplicates": 3, "saved": 8,
                                          "next_seq": 8})
        status, body = save([{"seq": 7, "data": {"trial": 99}}, *records(8, 9)])
        assert (status, body["error"], body["seqs"]) == (409, "seq_conflict", [7])
        status, body = complete(9)
        assert (status, body["error"], body["missing"]) == (409, "records_missing", [8])
        status, body = complete(8)
        assert (status, body["status"]) == (200, "completed")
        status, again = complete(8)
        assert (status, again["error"], again["completion_code"]) == (
            409, "already_completed", body["completion_code"])
        status, late = save(records(8, 9))
        assert (status, late["error"]) == (409, "run_finished")
        with app.app_context():
            stored = db.session.execute(select(TrialRecord.seq, TrialRecord.data)
                                        .where(TrialRecord.run_id == run_id)
                                        .order_by(TrialRecord.seq)).all()
            run = db.session.get(Run, run_id)
            assert [tuple(row) for row in stored] == [(r["seq"], r["data"])
                                                      for r in records(0, 8)]
            assert (run.record_count, run.next_seq) == (8, 8)
    finally:
        dispose(app)
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    if switched_off:
        assert calls[switched_off] == 0, f"{switched_off} off, yet its piece ran"
    else:
        assert {switch for switch in USED[dialect] if calls[switch] == 0} == set()


@pytest.mark.parametrize("gathered", [True, False])
def test_the_gather_switch_leaves_postgresql_without_its_gevent_gather(gathered, monkeypatch):
    monkeypatch.setattr(plain_saves, "_under_gevent", lambda: True)
    saves = plain_saves.PostgresPlainSaves(None, gathered=gathered)
    expected = plain_saves._handle_received_requests if gathered else None
    assert saves.group._gather is expected  # type: ignore[union-attr]
    assert saves.group._gather_handed_over is expected  # type: ignore[union-attr]
