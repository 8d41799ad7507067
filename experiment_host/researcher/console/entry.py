"""The entry URL of an experiment for each way participants come in, ready to copy: one
provider per platform, so a platform (Prolific's study, study links) plugs in here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...experiments import Experiment

PROLIFIC_QUERY = ("PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}"
                  "&SESSION_ID={{%SESSION_ID%}}")


@dataclass(frozen=True)
class EntryUrl:
    """One URL to hand out, where it goes, and what to know about it."""

    platform: str
    where: str
    url: str
    note: str = ""


def _base(public_url: str, slug: str) -> str:
    return f"{public_url.strip().rstrip('/')}/exp/{slug}"


def mturk_entry(experiment: Experiment, public_url: str) -> EntryUrl:
    url = _base(public_url, experiment.slug)
    https = urlsplit(url).scheme == "https"
    note = ("flask hits create posts it; MTurk adds assignmentId, hitId, workerId and "
            "turkSubmitTo." if https else
            "MTurk frames https pages only: set PUBLIC_URL to this host's https address "
            "(the local simulator also takes http on this machine).")
    return EntryUrl("MTurk", "the HIT's ExternalQuestion URL", url, note)


def prolific_entry(experiment: Experiment, public_url: str) -> EntryUrl:
    note = ("Prolific fills in the placeholders."
            if experiment.config.prolific.completion_code else
            "Set [prolific] completion_code in experiment.toml before recruiting on Prolific.")
    return EntryUrl("Prolific", "the study's URL, with Prolific's placeholders",
                    f"{_base(public_url, experiment.slug)}?{PROLIFIC_QUERY}", note)


def link_entry(experiment: Experiment, public_url: str) -> EntryUrl:
    return EntryUrl("Study link", "a plain link for anyone",
                    _base(public_url, experiment.slug),
                    "Each visitor gets a generated participant id; add ?participant=<id> to "
                    "name one.")


#: Each platform's entry URL, in the order the page shows them.
PROVIDERS: list[Callable[[Experiment, str], EntryUrl]] = [mturk_entry, prolific_entry,
                                                          link_entry]


def entry_urls(experiment: Experiment, public_url: str) -> list[EntryUrl]:
    """Every platform's entry URL for the experiment."""
    return [provider(experiment, public_url) for provider in PROVIDERS]
