"""Run properties (jsPsych's ``addProperties``) laid over every row of their run, as
jsPsych's own ``csv()`` would: trials are saved as they end, before a later call adds to
them, so each call is saved as a properties record (``record_keys.PROPERTIES_TYPE``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..record_keys import run_properties

if TYPE_CHECKING:
    from .export import RecordInfo

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
