"""Configuration defaults, documented in one place, and their environment overrides.

Order (DESIGN.md §4.2): these defaults → ``instance/config.py`` → environment → ``test_config``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

#: The checkout or install root: templates/, static/ and the default experiments/ are here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

MTURK_WORKER_ORIGINS = (
    "https://worker.mturk.com",
    "https://www.mturk.com",
    "https://workersandbox.mturk.com",
)
MTURK_SUBMIT_HOSTS = ("https://www.mturk.com", "https://workersandbox.mturk.com")


class Defaults:
    """Documented defaults; every name here can be set in the environment."""

    #: SQLAlchemy URL; empty means a SQLite file in the instance folder (WAL mode).
    DATABASE_URL = ""
    #: Signs run tokens and researcher sessions. Required when ``ENV=production``.
    SECRET_KEY = ""
    #: The public https base URL of this host, used in HIT ExternalQuestions.
    PUBLIC_URL = "http://127.0.0.1:5000"
    #: Origins allowed as ``turkSubmitTo``; they may also frame the worker pages.
    MTURK_SUBMIT_ORIGINS = MTURK_SUBMIT_HOSTS
    #: ``turkSubmitTo`` origins whose arrivals are test runs (beside the local simulator's
    #: http://SIMULATOR_HOST:SIMULATOR_PORT): pilots in MTurk's sandbox.
    TEST_SUBMIT_ORIGINS = ("https://workersandbox.mturk.com",)
    #: Seconds between checks, in each process, for a reload of the experiments
    #: (``flask experiments reload``, the dashboard's button).
    REGISTRY_CHECK_SECONDS = 5
    #: Folder holding one sub-folder per experiment.
    EXPERIMENTS_DIR = "experiments"
    #: Folder of npm packages served under /vendor (jsPsych).
    NODE_MODULES_DIR = "node_modules"
    #: ``development`` or ``production``; production refuses to start without SECRET_KEY.
    ENV = "development"
    #: Largest request body accepted, in bytes (the data API answers 413 above it).
    MAX_CONTENT_LENGTH = 1024 * 1024
    #: Most trial records accepted in one save request.
    MAX_RECORDS_PER_REQUEST = 500
    #: Lifetime of a run token in seconds; a reload of the entry URL issues a fresh one.
    RUN_TOKEN_MAX_AGE = 24 * 3600
    #: Minutes without a heartbeat after which an in-progress run stops holding its
    #: condition slot, unless the experiment sets ``abandon_after_minutes``.
    ABANDON_AFTER_MINUTES = 60
    #: Seconds between client heartbeats.
    HEARTBEAT_SECONDS = 30
    #: Data API requests one run may make per minute (the client needs a few).
    RUN_REQUESTS_PER_MINUTE = 300
    #: Most trial records one run may store, and most bytes of their data (as JSON text):
    #: a save beyond either is refused whole with a 413 (one participant cannot fill the
    #: database).
    RUN_MAX_RECORDS = 100_000
    RUN_MAX_BYTES = 64 * 1024 * 1024
    #: Most trials.csv columns one run's records may add to its experiment (the first run
    #: brings them all, so allow every key a real run has); its further new keys go to the
    #: overflow column (one participant cannot fill the column registry with junk keys).
    RUN_MAX_NEW_COLUMNS = 200
    #: New runs one IP address may start per hour (stops one client filling the quotas).
    NEW_RUNS_PER_IP_PER_HOUR = 60
    #: Wrong study codes one IP address may type per hour on /code (stops guessing codes).
    LINK_CODE_GUESSES_PER_IP_PER_HOUR = 20
    #: Number of reverse proxies in front of the app whose X-Forwarded-For is trusted.
    TRUSTED_PROXIES = 0
    #: Database connections per process (gunicorn.conf.py sets it to its thread count).
    DATABASE_POOL_SIZE = 10
    #: Browser cache lifetime of static files, experiment assets and jsPsych (seconds);
    #: after it, browsers revalidate with ETag / If-Modified-Since and get a 304.
    SEND_FILE_MAX_AGE_DEFAULT = 300
    #: Responses compressed with gzip/brotli when the browser accepts it (not CSV exports,
    #: which stream, nor the small JSON answers of the data API).
    COMPRESS_MIMETYPES = (
        "text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml",
    )
    COMPRESS_ALGORITHM = ("br", "gzip")
    COMPRESS_STREAMS = False
    #: Local MTurk simulator address used by ``flask simulator run``.
    SIMULATOR_HOST = "localhost"
    SIMULATOR_PORT = 5001
    #: ``flask hits``: use MTurk's sandbox. Set "false" to allow live HITs, which then
    #: also need ``--live`` on each command that spends money.
    MTURK_SANDBOX = True
    #: ``flask hits``: talk to this MTurk endpoint instead (e.g. ``flask simulator run``).
    MTURK_ENDPOINT_URL = ""
    #: ``flask hits``: attempts per MTurk call, first one included (botocore standard retries).
    MTURK_MAX_ATTEMPTS = 8
    #: ``flask hits``: concurrent MTurk calls for approve / bonus (MTurk throttles bursts).
    MTURK_CONCURRENCY = 10
    #: ``flask`` commands that name an experiment (or a HIT, study or link of one) refuse
    #: to run unless a researcher is named (``--as NAME`` or EXPERIMENT_HOST_RESEARCHER);
    #: false lets the server's operator act unnamed, as ``cli:<user>`` in the audit log.
    CLI_REQUIRE_RESEARCHER = False
    #: ``flask prolific``: the researcher's API token (Prolific → API tokens).
    PROLIFIC_API_TOKEN = ""
    #: ``flask prolific``: Prolific's API, or the simulator's (``flask simulator run``
    #: prints it), so a study is rehearsed end to end without spending money.
    PROLIFIC_API_URL = "https://api.prolific.com/api/v1"
    #: Where the done page sends Prolific participants with their completion code; the
    #: simulator's ``/prolific/submissions/complete`` when rehearsing.
    PROLIFIC_COMPLETE_URL = "https://app.prolific.com/submissions/complete"
    #: ``flask prolific``: attempts per call (429 and 5xx are retried with backoff, the
    #: server's Retry-After respected), the first backoff in milliseconds, seconds before a
    #: call times out, and concurrent calls on bulk work.
    PROLIFIC_MAX_ATTEMPTS = 6
    PROLIFIC_BACKOFF_MS = 500
    PROLIFIC_TIMEOUT_SECONDS = 30
    PROLIFIC_CONCURRENCY = 8
    #: The workspace secret that signs Prolific's webhook requests to ``/prolific/hooks``
    #: (``flask prolific subscribe`` prints it); empty turns the endpoint off.
    PROLIFIC_HOOK_SECRET = ""
    #: Researcher session cookie (the worker flow never gets one): not readable by scripts,
    #: not sent on cross-site subrequests, and https-only when PUBLIC_URL is https
    #: (``None`` means exactly that; set true/false to force it).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE: bool | str | None = None
    #: Seconds a researcher login lasts (the signed cookie is refused after that).
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    #: Failed logins allowed per (name, IP) within one to two windows of this many seconds.
    LOGIN_MAX_FAILURES = 5
    #: Failed logins allowed per IP whatever the names tried, in the same windows (stops
    #: one address trying a password against many names).
    LOGIN_MAX_FAILURES_PER_IP = 20
    LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
    #: Key of the keyed hash that turns worker ids into export pseudonyms; empty means one
    #: derived from SECRET_KEY (so changing SECRET_KEY changes every pseudonym).
    PSEUDONYM_KEY = ""
    #: Worker ids in exports unless the request says otherwise: ``pseudonym`` or ``raw``.
    EXPORT_WORKER_IDS = "pseudonym"
    #: Most trials.csv columns of one experiment's record keys; keys beyond it are exported
    #: together in one JSON column, ``data.overflow`` (a guard against runaway keys).
    EXPORT_MAX_COLUMNS = 1000
    #: Runs per page in the dashboard's runs table.
    RUNS_PER_PAGE = 50
    #: The save path's speed-ups, each switchable off for ``bench/save_path.py --ablate``
    #: and diagnosis only (docs/operations.md): off, the same saves are stored and answered
    #: alike, just slower. Leave them on in production.
    SPEEDUP_PLAIN_SAVES = True
    SPEEDUP_GROUP_COMMIT = True
    SPEEDUP_GATHER = True
    SPEEDUP_DRIVER_STATEMENTS = True
    SPEEDUP_PIPELINED_TRANSACTIONS = True
    SPEEDUP_AUTOCOMMIT_ENGINE = True


_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off"}


def environment_overrides(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read the settings named in :class:`Defaults` from the environment, each converted to
    its default's type."""
    environ = dict(os.environ if environ is None else environ)
    return {name: _converted(name, environ[name], default)
            for name, default in vars(Defaults).items()
            if not name.startswith("_") and name in environ}


def _converted(name: str, raw: str, default: Any) -> Any:
    """``raw`` as the type of ``default`` (text when the default is ``None`` or text)."""
    if isinstance(default, bool):  # before int: a bool is an int
        return parse_boolean(name, raw)
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise RuntimeError(f"{name} must be a whole number, got {raw!r}") from exc
    if isinstance(default, tuple):
        return tuple(raw.replace(",", " ").split())
    return raw


def parse_boolean(name: str, raw: str) -> bool:
    """The setting ``name``'s text as true or false (1/0, true/false, yes/no, on/off)."""
    word = raw.strip().lower()
    if word in _FALSE_WORDS | _TRUE_WORDS:
        return word in _TRUE_WORDS
    raise RuntimeError(f"{name} must be true or false, got {raw!r}")


def cookie_secure(configured: bool | str | None, public_url: str) -> bool:
    """Whether the researcher session cookie is https-only: as configured, else (``None``)
    exactly when PUBLIC_URL is https."""
    if configured is None:
        return str(public_url).lower().startswith("https://")
    if isinstance(configured, str):
        return parse_boolean("SESSION_COOKIE_SECURE", configured)
    return bool(configured)


def database_uri(configured: str, instance_path: str) -> str:
    """Turn ``DATABASE_URL`` into a SQLAlchemy URI, defaulting to SQLite in the instance folder."""
    if not configured:
        return "sqlite:///" + str(Path(instance_path) / "experiment_host.sqlite3")
    if configured.startswith("postgres://"):
        configured = "postgresql://" + configured.removeprefix("postgres://")
    if configured.startswith("postgresql://"):
        configured = "postgresql+psycopg://" + configured.removeprefix("postgresql://")
    return configured


def secret_key(configured: str, env: str, instance_path: str) -> str:
    """Return the secret key, generating and keeping one in the instance folder locally."""
    if configured:
        return configured
    if env == "production":
        raise RuntimeError(
            "SECRET_KEY is not set. In production set SECRET_KEY to a long random value "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)."
        )
    key_file = Path(instance_path) / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key
