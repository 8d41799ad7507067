"""Run properties (jsPsych's ``addProperties``) laid over every row of their run, as
jsPsych's own ``csv()`` would: trials are saved as they end, before a later call adds to
them, so each call is saved as a properties record (``record_keys.PROPERTIES_TYPE``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..record_keys import run_properties


class RunProperties:
    """Each run's properties, from ``(run_id, data)`` of properties records that come by run
    id (by seq within a run), so only one run's are held at a time: ask for runs in the
    same order."""

    def __init__(self, records: Iterable[tuple[int, dict[str, Any]]]) -> None:
        self._pending = iter(records)
        self._upcoming = next(self._pending, None)

    def of(self, run_id: int) -> dict[str, Any]:
        """The run's properties, a later call's winning over an earlier one's (jsPsych)."""
        merged: dict[str, Any] = {}
        while self._upcoming is not None and self._upcoming[0] <= run_id:
            if self._upcoming[0] == run_id:
                merged.update(run_properties(self._upcoming[1]) or {})
            self._upcoming = next(self._pending, None)
        return merged
