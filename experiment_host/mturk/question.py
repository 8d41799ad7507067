"""The ExternalQuestion XML that makes MTurk frame an experiment page, built in one place
so its escaping and frame height are right for every HIT."""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from .gateway import is_loopback

NAMESPACE = ("http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/"
             "2006-07-14/ExternalQuestion.xsd")
MAX_QUESTION_BYTES = 65_535


class QuestionError(ValueError):
    """An experiment URL MTurk would not accept."""


def frameable(url: str, local: bool) -> bool:
    """MTurk frames https pages only; a simulator on this machine also frames http ones here."""
    scheme = urlsplit(url).scheme
    return scheme == "https" or (local and scheme == "http" and is_loopback(url))


def experiment_url(public_url: str, slug: str, local: bool = False) -> str:
    """``PUBLIC_URL`` + ``/exp/<slug>``, refusing anything but an https URL with a host
    (``local``: the local simulator, which also takes http on this machine)."""
    base = public_url.strip().rstrip("/")
    if not urlsplit(base).netloc or not frameable(base, local):
        also = " (or, against the local simulator, http on this machine)" if local else ""
        raise QuestionError(
            f"PUBLIC_URL is {public_url!r}, but MTurk only frames https pages{also}. Set "
            "PUBLIC_URL to this host's public https address (e.g. "
            "https://experiments.example.org)."
        )
    return f"{base}/exp/{slug}"


def external_question(url: str, frame_height: int = 0, local: bool = False) -> str:
    """ExternalQuestion XML for ``url`` (XML-escaped); FrameHeight 0 fits the window."""
    if not frameable(url, local):
        raise QuestionError(f"MTurk only frames https pages, not {url!r}.")
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ExternalQuestion xmlns="{NAMESPACE}">'
        f"<ExternalURL>{escape(url)}</ExternalURL><FrameHeight>{int(frame_height)}</FrameHeight>"
        "</ExternalQuestion>"
    )
    if len(xml.encode("utf-8")) > MAX_QUESTION_BYTES:
        raise QuestionError(f"The ExternalQuestion is longer than {MAX_QUESTION_BYTES} bytes.")
    return xml
