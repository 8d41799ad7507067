"""One run's records as a table (JATOS's result viewer), a page of records at a time, so a
researcher can look at what a participant sent without downloading the experiment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import Run, TrialRecord
from ..export import cell, flatten

PAGE_SIZE = 200
#: The jsPsych adapter's bookkeeping records, shown but marked as such.
BOOKKEEPING = ("experiment-host-checkpoint", "experiment-host-properties")


@dataclass
class RecordRow:
    seq: int
    received_at: datetime
    cells: list[Any]
    bookkeeping: bool


@dataclass
class RunRecords:
    """One page of a run's records, with the columns their keys make."""

    run: Run
    columns: list[str] = field(default_factory=list)
    rows: list[RecordRow] = field(default_factory=list)
    next_after: int | None = None


def find_run(slug: str, run_id: int) -> Run | None:
    """The run, if it belongs to this experiment."""
    run = db.session.get(Run, run_id)
    return run if run is not None and run.experiment_slug == slug else None


def run_records(run: Run, after: int = -1, limit: int | None = None) -> RunRecords:
    """The run's records with seq > ``after``, ``limit`` (PAGE_SIZE) of them, flattened
    into columns in the order their keys first appear."""
    limit = limit or PAGE_SIZE
    found = list(db.session.execute(
        select(TrialRecord.seq, TrialRecord.received_at, TrialRecord.data)
        .where(TrialRecord.run_id == run.id, TrialRecord.seq > after)
        .order_by(TrialRecord.seq).limit(limit + 1)))
    page = RunRecords(run)
    flat_rows = [(seq, received, flatten(data)) for seq, received, data in found[:limit]]
    columns: dict[str, None] = {}
    for _, _, flat in flat_rows:
        columns.update(dict.fromkeys(flat))
    page.columns = list(columns)
    for seq, received, flat in flat_rows:
        kind = flat.get("trial_type")
        page.rows.append(RecordRow(seq, received,
                                   [cell(flat[c], False) if c in flat else "" for c in columns],
                                   kind in BOOKKEEPING))
    if len(found) > limit:
        page.next_after = flat_rows[-1][0]
    return page
