"""Recruitment platforms behind one small interface, so the rest of the app never branches
on the platform: :func:`detect` is the one place that looks at the entry URL to pick one."""

from __future__ import annotations

from collections.abc import Mapping

from ..models import Platform
from .base import Completion, EntryError, Identity, PlatformAdapter, Preview
from .link import LinkAdapter
from .mturk import MTurkAdapter
from .prolific import ProlificAdapter

__all__ = [
    "Completion",
    "EntryError",
    "Identity",
    "PlatformAdapter",
    "Preview",
    "adapter_for",
    "detect",
]

_ADAPTERS: dict[Platform, PlatformAdapter] = {
    Platform.MTURK: MTurkAdapter(),
    Platform.PROLIFIC: ProlificAdapter(),
    Platform.LINK: LinkAdapter(),
}


def detect(args: Mapping[str, str]) -> PlatformAdapter:
    """Pick the platform from the entry URL's query parameters."""
    for platform in (Platform.MTURK, Platform.PROLIFIC):
        if _ADAPTERS[platform].claims(args):
            return _ADAPTERS[platform]
    return _ADAPTERS[Platform.LINK]


def adapter_for(platform: Platform) -> PlatformAdapter:
    """The adapter of a run's platform."""
    return _ADAPTERS[platform]
