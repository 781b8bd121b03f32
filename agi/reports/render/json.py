"""JSON: one document whose shape does not change between versions:
``report``, ``title``, ``generated_at``, ``filters``, ``options``,
``columns`` (key, title, kind), ``rows`` (objects with exactly the column
keys, in column order) and ``totals`` (an object or null)."""
from __future__ import annotations

import json
from typing import Any, Mapping

from agi.reports.model import Report
from agi.reports.render.values import plain

FORMAT_VERSION = 1


def render_json(report: Report) -> str:
    document = {
        "report": report.kind,
        "format_version": FORMAT_VERSION,
        "title": report.title,
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "filters": report.filters.describe(),
        "options": dict(report.options),
        "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in report.columns],
        "rows": [_row(report, row) for row in report.rows],
        "totals": _row(report, report.totals) if report.totals else None,
    }
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"


def _row(report: Report, row: Mapping[str, Any]) -> dict[str, Any]:
    return {c.key: plain(c, row.get(c.key)) for c in report.columns}
