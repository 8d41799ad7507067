"""Signed run tokens: the worker flow's only credential (no cookies)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "experiment-host.run-token.v1"


class TokenError(Exception):
    """A run token that is malformed, forged or expired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RunClaim:
    """What a valid token says: which run, and under which platform session."""

    run_id: int
    session_key: str


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue(run_id: int, session_key: str) -> str:
    """Sign a token for this run and its current platform session."""
    return _serializer().dumps({"r": run_id, "k": session_key})


def verify(token: object) -> RunClaim:
    """Check a token's signature and age; raise TokenError otherwise."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise TokenError("invalid_token", "A run token is required.")
    try:
        payload = _serializer().loads(token, max_age=current_app.config["RUN_TOKEN_MAX_AGE"])
    except SignatureExpired as exc:
        raise TokenError(
            "expired_token", "This session has expired. Please reload the page to continue."
        ) from exc
    except BadSignature as exc:
        raise TokenError("invalid_token", "The run token is not valid.") from exc
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("r"), int)
        or not isinstance(payload.get("k"), str)
    ):
        raise TokenError("invalid_token", "The run token is not valid.")
    return RunClaim(run_id=payload["r"], session_key=payload["k"])
