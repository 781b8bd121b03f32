"""JSON: one document whose shape does not change between versions:
``report``, ``title``, ``generated_at``, ``filters``, ``options``,
``columns`` (key, title, kind), ``rows`` (objects with exactly the column
keys, in column order) and ``totals`` (an object or null). Indented two
spaces, each row on a line of its own; the rows are written one at a time
as they come, so a streamed report never sits in memory."""
from __future__ import annotations

import json
from typing import IO, Any, Callable, Mapping

from agi.reports.model import Report
from agi.reports.render.values import plain_of

FORMAT_VERSION = 1
#: Stands for the rows while the rest of the document is written.
_ROWS = "\0rows\0"
#: What ``json.dumps(row, ensure_ascii=False, default=str)`` would build for every row.
_ROW_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def write_json(report: Report, out: IO[str]) -> None:
    row_of = _row_maker(report)
    document = {
        "report": report.kind,
        "format_version": FORMAT_VERSION,
        "title": report.title,
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "filters": report.filters.describe(),
        "options": {key: _number(value) for key, value in report.options.items()},
        "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in report.columns],
        "rows": _ROWS,
        "totals": row_of(report.totals) if report.totals else None,
    }
    head, tail = _dumps(document).split(_dumps(_ROWS))
    out.write(head + "[")
    separator = "\n"
    for row in report.rows:
        out.write(separator + "    " + _ROW_ENCODER.encode(row_of(row)))
        separator = ",\n"
    out.write(("]" if separator == "\n" else "\n  ]") + tail + "\n")


def _number(value: Any) -> Any:
    """A whole number of an option as the command line and docs write it: 5, not 5.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _row_maker(report: Report) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A row as written: exactly the column keys, in column order, each
    value as ``plain_of`` its column kind writes it."""
    fields = [(column.key, plain_of(column.kind)) for column in report.columns]

    def row_of(values: Mapping[str, Any]) -> dict[str, Any]:
        return {key: values.get(key) if convert is None else convert(values.get(key)) for key, convert in fields}
    return row_of
