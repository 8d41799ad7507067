"""Test runs (pilots): a researcher's click-through, MTurk's sandbox and the local simulators
land in the same tables as participants, flagged ``runs.is_test``, so they never take a
quota place, stay out of exports unless asked for, and can be purged in one action.

How an arrival is known to be a test (:func:`is_test_arrival`), decided once at entry:

- its entry URL carries ``test=`` with a marker this server signed for the experiment
  (:func:`test_entry_url`, made by the dashboard's "Test run" button and ``flask runs test``);
- or it is an MTurk arrival whose ``turkSubmitTo`` is a test origin: one of
  ``TEST_SUBMIT_ORIGINS`` (default MTurk's sandbox) or the local simulator's address
  (``http://SIMULATOR_HOST:SIMULATOR_PORT``);
- or it is a Prolific arrival whose STUDY_ID is a study ``flask prolific create`` made on the
  configured, non-live Prolific API (the local simulator).

A sandbox or simulator run's done page still hands it back there (:func:`hands_back`), so a
rehearsal goes on to submit, review and pay; a pilot's made-up assignment is only shown.
"""

from __future__ import annotations

from .marking import (
    TEST_ARG,
    hands_back,
    is_rehearsal_study,
    is_test_arrival,
    test_entry_args,
    test_entry_url,
    valid_marker,
)
from .purging import latest_test_runs, purge_tests, test_run_counts

__all__ = [
    "TEST_ARG",
    "hands_back",
    "is_rehearsal_study",
    "is_test_arrival",
    "latest_test_runs",
    "purge_tests",
    "test_entry_args",
    "test_entry_url",
    "test_run_counts",
    "valid_marker",
]
