"""Prolific: entry through the study URL's parameters, and the completion-code redirect that
tells Prolific the participant finished."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from flask import current_app

from ..experiments import Experiment
from ..models import Platform, Run
from .base import Completion, Identity, Preview, required_id

COMPLETE_URL = "https://app.prolific.com/submissions/complete"


class ProlificAdapter:
    platform = Platform.PROLIFIC
    give_back = "return the study on Prolific; you will not be penalised"

    def claims(self, args: Mapping[str, str]) -> bool:
        return "PROLIFIC_PID" in args

    def parse_entry(
        self, args: Mapping[str, str], allowed_submit_origins: tuple[str, ...]
    ) -> Preview | Identity:
        return Identity(
            platform=self.platform,
            worker_id=required_id(args, "PROLIFIC_PID", "Prolific"),
            session_key=required_id(args, "SESSION_ID", "Prolific"),
            study_key=required_id(args, "STUDY_ID", "Prolific"),
        )

    def entry_args(self, run: Run) -> dict[str, str]:
        return {
            "PROLIFIC_PID": run.worker_id,
            "STUDY_ID": run.study_key or "",
            "SESSION_ID": run.session_key,
        }

    def unsupported_reason(self, experiment: Experiment) -> str | None:
        if experiment.config.prolific.completion_code:
            return None
        return (
            "The researcher has not set a Prolific completion code for this study yet. "
            "Please do not start it; contact the researcher through Prolific."
        )

    def open_elsewhere(self) -> str:
        return ("This study is already open in another Prolific submission of yours. Please "
                "continue (or finish) it there, or return this submission on Prolific. If you "
                "have already returned the other one, please try again later.")

    def completion(self, run: Run, experiment: Experiment) -> Completion:
        # The code of the run's outcome, recorded when it completed (so runs.csv shows
        # the code the participant took back).
        code = run.completion_code or experiment.config.prolific.completion_code or ""
        # PROLIFIC_COMPLETE_URL is the simulator's when rehearsing.
        base = current_app.config.get("PROLIFIC_COMPLETE_URL") or COMPLETE_URL
        return Completion(
            template="worker/done_redirect.html",
            context={"url": f"{base}?{urlencode({'cc': code})}", "platform": "Prolific"},
        )
