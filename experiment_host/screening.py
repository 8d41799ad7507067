"""Device and browser screening from the User-Agent, before a run is created, so a
participant on an unsupported device is told at once instead of failing mid-task."""

from __future__ import annotations

import re

from .experiments import Screening

MOBILE = re.compile(r"Mobi|Android|iPhone|iPad|iPod|Windows Phone", re.IGNORECASE)
#: Checked in order: Edge and Opera also say "Chrome", Chrome also says "Safari".
BROWSERS = (
    ("edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("opera", re.compile(r"OPR/|Opera")),
    ("firefox", re.compile(r"Firefox/|FxiOS/")),
    ("chrome", re.compile(r"Chrome/|Chromium/|CriOS/")),
    ("safari", re.compile(r"Safari/")),
)


def browser_family(user_agent: str) -> str | None:
    """The browser family named in a User-Agent string, if recognised."""
    for name, pattern in BROWSERS:
        if pattern.search(user_agent):
            return name
    return None


def screening_problem(screening: Screening, user_agent: str | None,
                      give_back: str = "close this page") -> str | None:
    """Why this device may not take the task, or None when it may; ``give_back`` is the
    platform's way to leave (``PlatformAdapter.give_back``)."""
    user_agent = user_agent or ""
    if screening.block_mobile and MOBILE.search(user_agent):
        return (
            f"This task needs a desktop or laptop computer with a keyboard. Please "
            f"{give_back}."
        )
    allowed = {b.lower() for b in screening.browsers}
    if allowed and browser_family(user_agent) not in allowed:
        names = ", ".join(sorted(b.capitalize() for b in allowed))
        return (
            f"This task works only in these browsers: {names}. Please open it in one of them, "
            f"or {give_back}."
        )
    return None
