"""The small interface every recruitment platform implements, so a new platform is one
adapter and no branch anywhere else."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..experiments import Experiment
from ..models import Platform, Run

PLATFORM_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class EntryError(Exception):
    """An entry URL that cannot be used; shown to the worker with an HTTP 400."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Preview:
    """The worker is looking at the task before accepting it."""


@dataclass(frozen=True)
class Identity:
    """Who the participant is, as the platform tells us."""

    platform: Platform
    worker_id: str
    session_key: str
    study_key: str | None = None
    submit_to: str | None = None


@dataclass(frozen=True)
class Completion:
    """How the done page hands the finished run back to the platform."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)


class PlatformAdapter(Protocol):
    platform: Platform
    #: How a participant who stops here gives the place back, in the platform's words
    #: ("Please {give_back}."): "return the HIT" only on MTurk.
    give_back: str

    def claims(self, args: Mapping[str, str]) -> bool:
        """Whether this entry URL comes from this platform."""
        ...

    def parse_entry(self, args: Mapping[str, str], allowed_submit_origins: tuple[str, ...]
                    ) -> Preview | Identity:
        """Turn the entry URL's parameters into a preview or a participant identity."""
        ...

    def entry_args(self, run: Run) -> dict[str, str]:
        """The query parameters that lead back to this run from the entry URL."""
        ...

    def unsupported_reason(self, experiment: Experiment) -> str | None:
        """Why this experiment cannot run on this platform, or None."""
        ...

    def completion(self, run: Run, experiment: Experiment) -> Completion:
        """What the done page shows or submits for a completed run."""
        ...

    def open_elsewhere(self) -> str:
        """What a worker is told whose run is open under another assignment (session) that
        may still be worked on: where to continue, and how to give this one back."""
        ...


def required_id(args: Mapping[str, str], name: str, platform_title: str) -> str:
    """Return a platform id parameter, or raise EntryError naming it."""
    value = args.get(name, "").strip()
    if not value:
        raise EntryError(
            "This link is incomplete",
            f"The link is missing {name}. Please open the study again from {platform_title}.",
        )
    if not PLATFORM_ID.match(value):
        raise EntryError(
            "This link is not valid",
            f"The {name} in this link is not valid. Please open the study again from "
            f"{platform_title}.",
        )
    return value
