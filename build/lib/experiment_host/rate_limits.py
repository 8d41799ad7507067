"""Fixed-window rate limits stored in the database, so they hold across processes and hosts."""

from __future__ import annotations

import time

from sqlalchemy import delete

from .database import increment
from .extensions import db
from .models import RateLimit


def current_window(window_seconds: int) -> int:
    """The number of the fixed window, ``window_seconds`` long, that now falls in."""
    return int(time.time() // window_seconds)


def count_hit(key: str, window_seconds: int) -> int:
    """Count one event for ``key`` in the current window; return the window's count."""
    window = current_window(window_seconds)
    count = increment(RateLimit, {"key": key, "window": window}, "count")
    if count == 1:  # first event of a new window: forget this key's older windows
        db.session.execute(delete(RateLimit).where(RateLimit.key == key, RateLimit.window < window))
    return count


def over_limit(key: str, limit: int, window_seconds: int) -> bool:
    """Count one event and say whether ``key`` has now gone over ``limit`` in this window."""
    return count_hit(key, window_seconds) > limit
