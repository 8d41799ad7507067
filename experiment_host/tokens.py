"""Signed run tokens: the worker flow's only credential, because inside a platform's
third-party iframe cookies may never arrive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .errors import ClientError

SALT = "experiment-host.run-token.v1"
#: What a token may do: ``TASK`` everything the task page does; ``CONSENT`` only record the
#: consent decision (the consent page's token: no saving or completing before consent).
TASK = "task"
CONSENT = "consent"


class TokenError(ClientError):
    """A run token that is malformed, forged, expired or superseded (401)."""

    status = 401


@dataclass(frozen=True)
class RunClaim:
    """What a valid token says: which run, of which experiment, from which page.

    ``page_key`` is the key the run was given when the token's page was served (a later
    page of the run supersedes it). Tokens issued before page keys carry the run's session
    key there, which migration 0010 gave existing runs as their page key. Tokens issued
    before they had a scope carry ``scope=None`` (the API judges those by their run's consent).
    """

    run_id: int
    page_key: str
    experiment_slug: str
    scope: str | None = None


def _serializer() -> URLSafeTimedSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"])


@lru_cache(maxsize=8)
def _serializer_for(secret_key: str) -> URLSafeTimedSerializer:
    """One serializer per key (building one derives keys: every API request needs it)."""
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def issue(run_id: int, page_key: str, experiment_slug: str, scope: str = TASK) -> str:
    """Sign a token for this run and the page just served for it (its page key), to do
    ``scope``."""
    return _serializer().dumps({"r": run_id, "k": page_key, "e": experiment_slug, "s": scope})


def verify(token: object) -> RunClaim:
    """Check a token's signature and age; raise TokenError otherwise."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise TokenError("invalid_token", "A run token is required.")
    claim, signed_at = _signed_claim(current_app.config["SECRET_KEY"], token)
    age = (datetime.now(UTC) - signed_at).total_seconds()
    if not 0 <= age <= current_app.config["RUN_TOKEN_MAX_AGE"]:
        raise TokenError(
            "expired_token", "This session has expired. Please reload the page to continue."
        )
    return claim


@lru_cache(maxsize=4096)
def _signed_claim(secret_key: str, token: str) -> tuple[RunClaim, datetime]:
    """The claim of a correctly signed token, and when it was signed.

    Memoised: a page sends the same token with every save, and checking a signature costs
    more than the rest of a save's Python work. Only tokens that verify are remembered
    (a bad one raises), and the age is checked on every use by the caller.
    """
    try:
        payload, signed_at = _serializer_for(secret_key).loads(token, return_timestamp=True)
    except BadSignature as exc:
        raise TokenError("invalid_token", "The run token is not valid.") from exc
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("r"), int)
        or not isinstance(payload.get("k"), str)
        or not isinstance(payload.get("e"), str)
        or payload.get("s", TASK) not in (TASK, CONSENT)
    ):
        raise TokenError("invalid_token", "The run token is not valid.")
    claim = RunClaim(run_id=payload["r"], page_key=payload["k"],
                     experiment_slug=payload["e"], scope=payload.get("s"))
    return claim, signed_at
