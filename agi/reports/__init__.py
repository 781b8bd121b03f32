"""Reports over the CDR database: pure queries, no click, no Twisted.

``run_report`` opens the database read-only, takes one snapshot and builds
the ``Report`` of one kind; ``agi.reports.render`` writes it as a table, CSV,
JSON or an HTML page. Definitions are in docs/reports.md.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from agi.db.location import PostgresUrl
from agi.reports.callers import fcr, tracking
from agi.reports.compliance import compliance
from agi.reports.db import CdrReader, ReportError
from agi.reports.ivr import ivr
from agi.reports.model import Chart, Column, Filters, Report
from agi.reports.overview import calls, inbound, summary
from agi.reports.timerange import UTC, range_problem

BUILDERS: dict[str, Callable[..., Report]] = {
    "calls": calls, "summary": summary, "inbound": inbound, "fcr": fcr,
    "tracking": tracking, "ivr": ivr, "compliance": compliance,
}
KINDS = tuple(BUILDERS)
#: The reports counted with thresholds (``thresholds=`` option): short abandons, service level.
MEASURED = ("summary", "inbound")
#: The reports that tell callers apart by number (``region=`` option: ``default_region``).
BY_CALLER = ("fcr", "tracking")

__all__ = ["BUILDERS", "BY_CALLER", "KINDS", "MEASURED", "Chart", "Column", "Filters", "Report", "ReportError", "run_report"]


def run_report(database: str | Path | PostgresUrl, kind: str, filters: Filters, now: datetime, *,
               charts: bool = False, **options: Any) -> Report:
    """Build the ``kind`` report from the CDR file ``database`` in one read
    transaction. ``charts`` adds the chart series the HTML page draws."""
    if kind not in BUILDERS:
        raise ReportError(f"unknown report {kind!r}; choose one of {', '.join(KINDS)}")
    problem = range_problem(filters.since, filters.until)
    if problem:
        raise ReportError(problem)
    with CdrReader(database, filters.tz or UTC) as reader, reader.snapshot():
        return BUILDERS[kind](reader, filters, now, charts=charts, **options)
