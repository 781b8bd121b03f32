"""Reports over the CDR database: pure queries, no click, no Twisted.

``run_report`` opens the database read-only, takes one snapshot and builds
the ``Report`` of one kind; ``agi.reports.render`` writes it as a table, CSV,
JSON or an HTML page. ``open_report`` keeps the database open while the
report is written, so that the call log streams its rows from the database
to the output. Definitions are in docs/reports.md.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from agi.db.location import PostgresUrl
from agi.reports.agents import agents
from agi.reports.callbacks import callbacks
from agi.reports.callers import fcr, tracking
from agi.reports.campaign import campaign
from agi.reports.compliance import compliance
from agi.reports.consolidated import consolidated
from agi.reports.db import CdrReader, ReportError
from agi.reports.ivr import ivr
from agi.reports.model import Chart, Column, Filters, Report
from agi.reports.overview import calls, inbound, summary
from agi.reports.timerange import UTC, range_problem

BUILDERS: dict[str, Callable[..., Report]] = {
    "calls": calls, "summary": summary, "inbound": inbound, "fcr": fcr,
    "tracking": tracking, "ivr": ivr, "compliance": compliance, "agents": agents,
    "consolidated": consolidated, "callbacks": callbacks, "campaign": campaign,
}
KINDS = tuple(BUILDERS)
#: The reports counted with thresholds (``thresholds=`` option): short abandons, service level.
MEASURED = ("summary", "inbound", "agents", "consolidated")
#: The reports that tell callers apart by number (``region=`` option: ``default_region``).
BY_CALLER = ("fcr", "tracking")
#: The reports that walk many rows: each call in the range, or a row per agent and quarter hour.
MANY_ROWS = ("calls", "fcr", "tracking", "consolidated")

__all__ = ["BUILDERS", "BY_CALLER", "KINDS", "MANY_ROWS", "MEASURED", "Chart", "Column", "Filters", "Report", "ReportError",
           "open_report", "run_report"]


def run_report(database: str | Path | PostgresUrl, kind: str, filters: Filters, now: datetime, *,
               charts: bool = False, rollups: bool = True, **options: Any) -> Report:
    """Build the ``kind`` report from the CDR file ``database`` in one read
    transaction. ``charts`` adds the chart series the HTML page draws;
    without ``rollups`` every sum is read from the calls table."""
    with open_report(database, kind, filters, now, charts=charts, rollups=rollups, **options) as report:
        return report.materialised()


@contextmanager
def open_report(database: str | Path | PostgresUrl, kind: str, filters: Filters, now: datetime, *,
                charts: bool = False, rollups: bool = True, **options: Any) -> Iterator[Report]:
    """The ``kind`` report, inside its read transaction: rows that stream
    (``StreamedRows``) are read from the database as the report is written,
    so write it before the block ends."""
    if kind not in BUILDERS:
        raise ReportError(f"unknown report {kind!r}; choose one of {', '.join(KINDS)}")
    problem = range_problem(filters.since, filters.until)
    if problem:
        raise ReportError(problem)
    with CdrReader(database, filters.tz or UTC, rollups=rollups, many_rows=kind in MANY_ROWS) as reader, \
            reader.snapshot():
        yield BUILDERS[kind](reader, filters, now, charts=charts, **options)
