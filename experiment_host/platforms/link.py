"""Plain study links, for recruiting without a platform: the participant id comes from
``?participant=`` or is generated."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..experiments import Experiment
from ..models import Platform, Run
from .base import Completion, Identity, Preview, required_id


def new_participant_id() -> str:
    """A fresh, unguessable participant id for a plain link."""
    return "P" + secrets.token_urlsafe(16)


class LinkAdapter:
    platform = Platform.LINK
    give_back = "close this page"

    def claims(self, args: Mapping[str, str]) -> bool:
        return True

    def parse_entry(
        self, args: Mapping[str, str], allowed_submit_origins: tuple[str, ...]
    ) -> Preview | Identity:
        if not args.get("participant"):
            participant = new_participant_id()
        else:
            participant = required_id(args, "participant", "the study link you were given")
        return Identity(platform=self.platform, worker_id=participant, session_key=participant)

    def entry_args(self, run: Run) -> dict[str, str]:
        return {"participant": run.session_key}

    def unsupported_reason(self, experiment: Experiment) -> str | None:
        return None

    def open_elsewhere(self) -> str:
        return ("This study is already open under another link of yours. Please continue "
                "it there.")

    def completion(self, run: Run, experiment: Experiment) -> Completion:
        from ..links import end_redirect  # the links package builds on the platforms

        url = end_redirect(run)
        if url:
            return Completion(template="worker/done_redirect.html",
                              context={"url": url, "platform": urlsplit(url).netloc})
        return Completion(template="worker/done_link.html", context={})
