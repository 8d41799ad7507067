"""The links table as CSV rows, the same for the dashboard's download and
``flask links export``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from .rules import link_url
from .store import LinkRow

COLUMNS = ("url", "code", "type", "batch", "comment", "active", "used_at", "run_id", "runs")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A comment is typed by someone: never let a spreadsheet run it as a formula.
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_lines(rows: Iterator[LinkRow]) -> Iterator[str]:
    """The header, then one CSV line per link."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        link = row.link
        writer.writerow([_cell(v) for v in (
            link_url(link), link.code, link.link_type, row.batch, link.comment,
            "yes" if link.active else "no",
            row.used_at.isoformat() if row.used_at else "", row.run_id or "", row.runs)])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if out.getvalue():
        yield out.getvalue()


def parse_comments(data: bytes) -> list[str]:
    """The first column of each row of an uploaded CSV of comments."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError("The comments file must be UTF-8 text (CSV).") from exc
    return [row[0].strip() if row else "" for row in csv.reader(io.StringIO(text))]
