"""Researcher accounts, personal API tokens and the failed-login counter, all in the
database so the login limits hold across gunicorn workers without another service."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    false,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import insert_ignoring_duplicates
from ..extensions import db
from ..models import UTCDateTime, utcnow

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "ehr_"


class AccountError(ValueError):
    """A researcher account operation that cannot be done, with a message for the user."""


# Passwords are hashed with werkzeug.security. API tokens are 256-bit random strings shown
# once; only their SHA-256 is stored (a fast hash is enough for a high-entropy secret).
# Failed logins are counted per (username, IP, time window): per name and IP, and per IP
# across names.
class Researcher(db.Model):
    """A researcher who may log in to the dashboard and download data."""

    __tablename__ = "researchers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Moved on at each logout: it is part of the session fingerprint, so a logout ends
    #: every session cookie issued before it (a copied one included).
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Manages accounts and sees and changes every experiment (``experiment_host.access``).
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ApiToken(db.Model):
    """A personal API token; only its SHA-256 is stored."""

    __tablename__ = "researcher_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    researcher_id: Mapped[int] = mapped_column(ForeignKey("researchers.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the token, to tell tokens apart in listings.
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Acts with view access at most, whatever its researcher may do.
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Space-separated slugs the token is limited to; NULL: all its researcher's.
    experiments: Mapped[str | None] = mapped_column(Text)


class LoginFailures(db.Model):
    """Failed logins per (username, IP) in one fixed time window."""

    __tablename__ = "login_failures"
    __table_args__ = (UniqueConstraint("username", "ip", "window"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    #: Start of the window, in whole windows since the epoch.
    window: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer, default=0)


@cache
def _dummy_hash() -> str:
    # Checked when the name is unknown, so a miss costs as much time as a wrong password.
    return generate_password_hash("not a real password, only for timing")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")


def find_researcher(name: str) -> Researcher | None:
    """The researcher called ``name``, if any (no query for what cannot be a name)."""
    if not USERNAME_PATTERN.match(name):
        return None
    statement = select(Researcher).where(Researcher.name == name)
    return db.session.execute(statement).scalar_one_or_none()


def get_researcher(name: str) -> Researcher:
    """The researcher called ``name``, or an AccountError."""
    researcher = find_researcher(name)
    if researcher is None:
        raise AccountError(f"There is no researcher called {name!r}.")
    return researcher


def add_researcher(name: str, password: str, admin: bool = False) -> Researcher:
    """Create an account (an admin, or one with no experiment until granted); the caller
    commits."""
    if not USERNAME_PATTERN.match(name):
        raise AccountError("A name is 1-64 letters, digits and _ . @ - (starting with a letter "
                           "or digit).")
    if find_researcher(name) is not None:
        raise AccountError(f"A researcher called {name!r} already exists.")
    _check_password(password)
    researcher = Researcher(name=name, password_hash=generate_password_hash(password),
                            is_admin=admin)
    db.session.add(researcher)
    db.session.flush()
    return researcher


def set_password(name: str, password: str) -> None:
    """Replace a researcher's password (which also ends their browser sessions)."""
    _check_password(password)
    get_researcher(name).password_hash = generate_password_hash(password)


def remove_researcher(name: str) -> None:
    """Delete an account and its tokens."""
    researcher = get_researcher(name)
    db.session.execute(delete(ApiToken).where(ApiToken.researcher_id == researcher.id))
    db.session.delete(researcher)


def list_researchers() -> list[tuple[Researcher, int]]:
    """Every researcher with their number of active tokens."""
    active = (
        select(func.count()).where(ApiToken.researcher_id == Researcher.id,
                                   ApiToken.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = db.session.execute(select(Researcher, active).order_by(Researcher.name))
    return [(researcher, count) for researcher, count in rows]


def authenticate(name: str, password: str) -> Researcher | None:
    """The researcher if the password is right, else None (in constant-ish time)."""
    researcher = find_researcher(name)
    if researcher is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(researcher.password_hash, password):
        return None
    researcher.last_login_at = utcnow()
    return researcher


def session_fingerprint(researcher: Researcher) -> str:
    """A value that changes with the password and at each logout, so either ends the
    sessions issued before it."""
    seed = f"{researcher.session_generation or 0}:{researcher.password_hash}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(name: str, read_only: bool = False,
                experiments: tuple[str, ...] = ()) -> tuple[ApiToken, str]:
    """Make a new token for the researcher (read-only, or limited to ``experiments``, if
    asked); the plain token is returned only here."""
    researcher = get_researcher(name)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(researcher_id=researcher.id, token_hash=_token_hash(plain),
                     hint=plain[: len(TOKEN_PREFIX) + 6], read_only=read_only,
                     experiments=" ".join(dict.fromkeys(experiments)) or None)
    db.session.add(token)
    db.session.flush()
    return token, plain


def list_tokens(name: str) -> list[ApiToken]:
    """The researcher's tokens, newest first."""
    researcher = get_researcher(name)
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.researcher_id == researcher.id)
        .order_by(ApiToken.id.desc())
    ))


def revoke_tokens(name: str, token_id: int | None) -> int:
    """Revoke one token of the researcher (or all when ``token_id`` is None); return how many."""
    researcher = get_researcher(name)
    statement = update(ApiToken).where(ApiToken.researcher_id == researcher.id,
                                       ApiToken.revoked_at.is_(None))
    if token_id is not None:
        statement = statement.where(ApiToken.id == token_id)
    count = db.session.execute(statement.values(revoked_at=utcnow())).rowcount
    if token_id is not None and count == 0:
        raise AccountError(f"{name!r} has no active token with id {token_id}.")
    return count


def researcher_for_token(plain: str) -> tuple[Researcher, ApiToken] | None:
    """The researcher an active token belongs to, and the token, marked used."""
    row = db.session.execute(
        select(ApiToken, Researcher)
        .join(Researcher, Researcher.id == ApiToken.researcher_id)
        .where(ApiToken.token_hash == _token_hash(plain), ApiToken.revoked_at.is_(None))
    ).one_or_none()
    if row is None:
        return None
    token, researcher = row
    token.last_used_at = utcnow()
    return researcher, token


def _counted_name(username: str) -> str:
    """The name a failure is counted under: what a database's text can hold (no NUL)."""
    return username[:64].replace("\x00", "\ufffd")


def _window(now: datetime, seconds: int) -> int:
    return int(now.timestamp()) // seconds


def too_many_failures(username: str, ip: str, limits: tuple[int, int, int]) -> bool:
    """True when this (username, IP) failed ``limits[0]`` times, or this IP failed
    ``limits[1]`` times whatever the names (password spraying), in this window of
    ``limits[2]`` seconds and the last one."""
    per_name, per_ip, seconds = limits
    recent = select(func.coalesce(func.sum(LoginFailures.failures), 0)).where(
        LoginFailures.ip == ip[:64], LoginFailures.window >= _window(utcnow(), seconds) - 1)
    if db.session.scalar(recent) >= per_ip:
        return True
    return bool(db.session.scalar(recent.where(LoginFailures.username == _counted_name(username)))
                >= per_name)


def count_failure(username: str, ip: str, seconds: int) -> None:
    """Add one failed login for (username, IP) and drop counters older than a day."""
    now = utcnow()
    key = {"username": _counted_name(username), "ip": ip[:64], "window": _window(now, seconds)}
    db.session.execute(insert_ignoring_duplicates(LoginFailures, [key],
                                                  ["username", "ip", "window"]))
    db.session.execute(
        update(LoginFailures).filter_by(**key).values(failures=LoginFailures.failures + 1)
    )
    stale = _window(now - timedelta(days=1), seconds)
    db.session.execute(delete(LoginFailures).where(LoginFailures.window < stale))
