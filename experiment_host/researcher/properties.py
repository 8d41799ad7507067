"""Run properties (jsPsych's ``addProperties``) laid over every row of their run, as
jsPsych's own ``csv()`` would: trials are saved as they end, before a later call adds to
them, so each call is saved as a properties record (:data:`PROPERTIES_TYPE`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .export import RecordInfo

#: trial_type of the run properties records written by our jsPsych adapter (what
#: ``jsPsych.data.addProperties`` added, under ``properties``).
PROPERTIES_TYPE = "experiment-host-properties"
#: The registry name that says an experiment has properties records (flagged neither as a
#: trial nor as a checkpoint column, so never in a header); no record key is given it.
PROPERTIES_COLUMN = "data.properties"


def run_properties(data: dict[str, Any]) -> dict[str, Any] | None:
    """The properties of a run properties record; None for any other record."""
    properties = data.get("properties") if data.get("trial_type") == PROPERTIES_TYPE else None
    return properties if isinstance(properties, dict) else None


def spread_properties(records: Iterable[RecordInfo],
                      properties: Iterable[tuple[int, dict[str, Any]]]) -> Iterator[RecordInfo]:
    """``records`` with their run's properties laid over their data (a property wins over a
    key of the record, and a later properties record over an earlier one, as in jsPsych).

    ``properties`` holds ``(run_id, data)`` of properties records; both streams come by run
    id (properties by seq within a run), so only one run's properties are held at a time.
    """
    pending = iter(properties)
    upcoming = next(pending, None)
    run_id: int | None = None
    merged: dict[str, Any] = {}
    for record in records:
        if record.run_id != run_id:
            run_id, merged = record.run_id, {}
            while upcoming is not None and upcoming[0] <= run_id:
                if upcoming[0] == run_id:
                    merged.update(run_properties(upcoming[1]) or {})
                upcoming = next(pending, None)
        if merged and run_properties(record.data) is None:
            record = record._replace(data={**record.data, **merged})
        yield record
