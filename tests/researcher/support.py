"""Helpers for the researcher tests: logging in, seeding runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from experiment_host.extensions import db
from experiment_host.models import ExperimentRow, Platform, Run, RunStatus, TrialRecord
from experiment_host.saving import register_columns

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def csrf_token(html: str) -> str:
    """The CSRF token in a page's form."""
    match = CSRF.search(html)
    assert match, html[:500]
    return match.group(1)


def log_in(client: FlaskClient, name: str = "ada", password: str = PASSWORD,
           **request: Any) -> Any:
    """Post the login form like a browser does (with the form's CSRF token); ``request``
    goes to both requests (e.g. ``environ_base``)."""
    token = csrf_token(client.get("/researcher/login", **request).get_data(as_text=True))
    return client.post("/researcher/login", **request,
                       data={"csrf_token": token, "username": name, "password": password})


def add_run(slug: str = "basic", *, data: list[dict[str, Any]] | None = None,
            status: RunStatus = RunStatus.COMPLETED, condition: str = "A",
            platform: Platform = Platform.MTURK, worker: str | None = None,
            minutes: float = 10, start: datetime = T0, **fields: Any) -> Run:
    """Insert a run with its records directly, registering their columns (inside an app
    context); the caller commits."""
    if db.session.get(ExperimentRow, slug) is None:
        db.session.add(ExperimentRow(slug=slug))
    serial = db.session.scalar(db.select(db.func.count()).select_from(Run)) + 1
    done = status not in (RunStatus.IN_PROGRESS, RunStatus.RETURNED, RunStatus.ABANDONED,
                          RunStatus.DECLINED)
    run = Run(experiment_slug=slug, platform=platform, worker_id=worker or f"AW{serial:05d}",
              session_key=f"ASSIGN{serial:05d}", study_key="HIT1", condition=condition,
              status=status, record_count=len(data or []), created_at=start,
              consented_at=start, last_seen_at=start + timedelta(minutes=minutes),
              completed_at=start + timedelta(minutes=minutes) if done else None, **fields)
    db.session.add(run)
    db.session.flush()
    for seq, item in enumerate(data or []):
        db.session.add(TrialRecord(run_id=run.id, seq=seq, data=item,
                                   received_at=start + timedelta(seconds=seq)))
    db.session.flush()
    register_columns(db.session.connection(), slug, data or [])  # as the save path does
    return run
