"""Which arrivals are test runs, and the entry URLs that start one."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from ..extensions import db
from ..models import Platform, Run
from ..platforms import Identity

#: The entry URL's parameter that carries the signed test marker.
TEST_ARG = "test"
#: How long a test link works (seconds): a pilot link should not outlive the pilot.
MARKER_MAX_AGE = 7 * 24 * 3600
_SALT = "experiment_host.pilots.test-run"
PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
#: The HIT id of a pilot's made-up MTurk assignment: there is no HIT to hand it back to.
PILOT_HIT = "TESTHIT"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _marker(slug: str) -> str:
    return _serializer().dumps({"slug": slug})


def valid_marker(slug: str, args: Mapping[str, str]) -> bool:
    """Whether the entry URL carries a test marker this server signed for ``slug``."""
    raw = args.get(TEST_ARG)
    if not raw or len(raw) > 500:
        return False
    try:
        claim = _serializer().loads(raw, max_age=MARKER_MAX_AGE)
    except BadSignature:
        return False
    return isinstance(claim, dict) and claim.get("slug") == slug


def test_origins() -> set[str]:
    """``turkSubmitTo`` origins that make an MTurk arrival a test run."""
    config = current_app.config
    simulator = f"http://{config['SIMULATOR_HOST']}:{config['SIMULATOR_PORT']}"
    return {o.rstrip("/").lower() for o in (*config["TEST_SUBMIT_ORIGINS"], simulator)}


def is_rehearsal_study(study_id: str | None) -> bool:
    """Whether ``study_id`` is a study ``flask prolific create`` made on the Prolific API this
    host is configured for now, and that API is not the live one (the local simulator).

    A participant chooses the STUDY_ID in their URL, so the rule is built to be unforgeable
    where it matters: on a host configured for live Prolific it is never true, and elsewhere
    it needs an id the simulator made (random, never shown to live participants)."""
    from ..prolific.actions import LIVE_URL
    from ..prolific.models import ProlificStudy

    api_url = str(current_app.config["PROLIFIC_API_URL"]).rstrip("/")
    if not study_id or api_url == LIVE_URL:
        return False
    return db.session.scalar(select(ProlificStudy.id).where(
        ProlificStudy.api_url == api_url, ProlificStudy.study_id == study_id).limit(1)) is not None


def hands_back(run: Run) -> bool:
    """Whether a test run's done page still hands it back to its platform: a rehearsal on
    a simulator or MTurk's sandbox (whose assignment or submission must reach it) does;
    pilots' made-up ids don't."""
    if run.platform == Platform.MTURK:
        return run.study_key != PILOT_HIT and (
            (run.submit_to or "").rstrip("/").lower() in test_origins())
    return run.platform == Platform.PROLIFIC and is_rehearsal_study(run.study_key)


def is_test_arrival(slug: str, args: Mapping[str, str], identity: Identity | None) -> bool:
    """Whether this arrival (``identity`` None: a preview) is a test: a signed marker for the
    experiment, an MTurk ``turkSubmitTo`` that is a sandbox or simulator origin, or a
    Prolific STUDY_ID of a study made on the simulator (:func:`is_rehearsal_study`)."""
    if valid_marker(slug, args):
        return True
    if identity is not None and identity.platform == Platform.PROLIFIC:
        return is_rehearsal_study(identity.study_key)
    submit_to = identity.submit_to if identity else args.get("turkSubmitTo", "")
    return bool(submit_to) and submit_to.rstrip("/").lower() in test_origins()


def _tester_id() -> str:
    return "TEST" + secrets.token_hex(8).upper()


def test_entry_args(slug: str, platform: Platform, preview: bool = False) -> dict[str, str]:
    """Query parameters of a new test run's entry URL on ``platform``, with fresh ids
    (MTurk: the preview's, when ``preview``; accepting it gets an assignment id)."""
    tester = _tester_id()
    args: dict[str, str]
    if platform == Platform.MTURK:
        origins = current_app.config["MTURK_SUBMIT_ORIGINS"]
        sandbox = "https://workersandbox.mturk.com"
        args = {"assignmentId": PREVIEW_ASSIGNMENT if preview else "TESTASSIGN" + tester[4:],
                "hitId": PILOT_HIT, "workerId": tester,
                "turkSubmitTo": sandbox if sandbox in origins else origins[0]}
    elif platform == Platform.PROLIFIC:
        args = {"PROLIFIC_PID": tester, "STUDY_ID": "TESTSTUDY",
                "SESSION_ID": "TESTSESSION" + tester[4:]}
    else:
        args = {"participant": tester}
    return {**args, TEST_ARG: _marker(slug)}


def test_entry_url(slug: str, platform: Platform, external: bool = False) -> str:
    """Where a test run of ``slug`` on ``platform`` starts: MTurk's preview, or the entry."""
    args = test_entry_args(slug, platform, preview=platform == Platform.MTURK)
    return url_for("worker.entry", slug=slug, _external=external, **args)
