"""Per-run caps on what one run stores: records and bytes (RUN_MAX_RECORDS, RUN_MAX_BYTES).

A run's stored bytes are the UTF-8 bytes of its records' data as JSON text, as the batch
travels to the database (``json.dumps`` with its default separators). Each save adds them
to the run's row (``runs.stored_bytes``, beside ``record_count``) in the statement that
stores the records, and that statement's guard refuses a batch that would take the run
over either cap: nothing of it is stored, and the client gets a 413. The sizes come from
the one serialisation of the batch that the save makes anyway (:func:`data_bytes`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from flask import current_app

#: What ``json.dumps`` puts around and between the items of a list, and around each
#: ``{"seq": ..., "data": ...}`` item (its seq's digits and data aside).
_BRACKETS = len(json.dumps([]))
_SEPARATOR = len(json.dumps([0, 0])) - len(json.dumps([0])) - 1
_ITEM_FRAME = len(json.dumps({"seq": 0, "data": 0})) - 2


class _Record(Protocol):
    seq: int
    data: dict[str, Any]


def data_bytes(payload_bytes: int, records: Sequence[_Record], with_seqs: bool) -> int:
    """The records' data bytes in a batch payload of ``payload_bytes`` (UTF-8): the JSON
    array of their data, or (``with_seqs``) of ``{"seq": ..., "data": ...}`` objects."""
    if not records:
        return 0
    frame = _BRACKETS + _SEPARATOR * (len(records) - 1)
    if with_seqs:
        frame += sum(_ITEM_FRAME + len(str(record.seq)) for record in records)
    return payload_bytes - frame


def record_bytes(records: Iterable[_Record]) -> int:
    """The data bytes of some of a batch's records (when only some were stored)."""
    return sum(len(json.dumps(record.data, ensure_ascii=False).encode()) for record in records)


def cap_parameters() -> dict[str, int]:
    """The caps as the save statements' parameters."""
    config = current_app.config
    return {"max_records": config["RUN_MAX_RECORDS"], "max_bytes": config["RUN_MAX_BYTES"]}
