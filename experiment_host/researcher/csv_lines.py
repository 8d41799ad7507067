"""trials.csv as text lines, each cell quoted as it is made by the csv module's rules for its
excel dialect (a cell holding ``,`` ``"`` CR or LF is quoted, its quotes doubled): the csv
module's ``writerow`` costs more than the rest of a row. :func:`.export.trial_rows` gives the
same rows as lists, and a test holds the two to the csv module's output."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..record_keys import OVERFLOW_COLUMN
from .export import (
    FORMULA_STARTS,
    ExportOptions,
    RecordInfo,
    cell,
    header_row,
    missing_column,
    run_head,
    timestamp,
    to_json,
)
from .properties import RunProperties


def trial_csv_lines(records: Iterable[RecordInfo], keys: Sequence[str], options: ExportOptions,
                    properties: RunProperties | None = None) -> Iterator[str]:
    """trials.csv's rows (:func:`.export.trial_rows`) as text lines. A run's properties are
    made into cells once per run, then laid over each of its rows."""
    start = 3  # the run's cells as one text, seq, received_at
    positions = {key: start + offset for offset, key in enumerate(keys)}
    overflow_at = positions.pop(OVERFLOW_COLUMN, None)
    escape = options.escape_formulas
    blank = [""] * len(keys)
    run_id, head = None, ""
    laid: dict[str, Any] = {}
    laid_cells: list[tuple[int, str]] = []
    laid_extra: dict[str, Any] = {}
    for record in records:
        if record.run_id != run_id:
            run_id = record.run_id
            head = ",".join(csv_cell(cell(value, escape))
                            for value in run_head(record, options))
            if properties is not None:
                laid = properties.of(run_id)
                laid_cells, laid_extra = _property_cells(laid, positions, escape,
                                                         start + len(keys))
        received = record.received_at  # naive UTC as the query reads it
        row = [head, str(record.seq), received.isoformat() + "Z" if received.tzinfo is None
               else timestamp(received), *blank]
        data = record.data
        if laid and not laid.keys().isdisjoint(data):  # the run's properties replace them
            data = {key: value for key, value in data.items() if key not in laid}
        extra = _csv_cells(row, data, positions, escape)
        for at, text in laid_cells:
            row[at] = text
        if laid_extra:
            extra.update(laid_extra)
        if extra:
            if overflow_at is None:
                raise missing_column(record, next(iter(extra)))
            row[overflow_at] = csv_cell(cell(extra, escape))
        yield ",".join(row) + "\r\n"


def _property_cells(laid: dict[str, Any], positions: dict[str, int], escape: bool,
                    width: int) -> tuple[list[tuple[int, str]], dict[str, Any]]:
    """A run's property cells, made once: ``(place, text)`` of those with a column, and the
    properties that have none."""
    scratch: list[str | None] = [None] * width
    extra = _csv_cells(scratch, laid, positions, escape)
    return [(at, text) for at, text in enumerate(scratch) if text is not None], extra


def _csv_cells(row: list[Any], data: dict[str, Any], positions: dict[str, int],
               escape: bool) -> dict[str, Any]:
    """Put the record's cells, quoted, at their columns' places in ``row``; return the keys
    that have no column. What flatten() gives, walked in place: a nested object's keys,
    dotted, where the object is (so a repeated key's last value wins, as in flatten's dict).
    """
    extra: dict[str, Any] = {}
    items, prefix, parents = iter(data.items()), "", []
    while True:
        for key, value in items:
            kind = type(value)
            if prefix:
                key = prefix + key
            if kind is dict and value:
                parents.append((prefix, items))
                items, prefix = iter(value.items()), key + "."
                break
            position = positions.get(key)
            if position is None:
                extra[key] = value
            elif kind is str:
                if escape and value.startswith(FORMULA_STARTS):
                    value = "'" + value
                if '"' in value or "," in value or "\n" in value or "\r" in value:
                    value = '"' + value.replace('"', '""') + '"'
                row[position] = value
            elif kind is int or kind is float:
                row[position] = str(value)
            elif kind is bool:
                row[position] = "true" if value else "false"
            elif kind is list:  # JSON text that starts with "[": no formula to escape
                row[position] = csv_cell(to_json(value))
            elif value is not None:
                row[position] = csv_cell(cell(value, escape))
        else:
            if not parents:
                return extra
            prefix, items = parents.pop()


def csv_cell(value: Any) -> str:
    """A cell's text as the csv module writes it: quoted (quotes doubled) if it holds a
    comma, a quote or a line break."""
    text = str(value)
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_header(columns: Iterable[str], options: ExportOptions) -> str:
    """The header line of a CSV export (:func:`header_row` as the csv module writes it)."""
    return ",".join(map(csv_cell, header_row(columns, options))) + "\r\n"
