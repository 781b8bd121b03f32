"""The ``ivr`` report: how callers answered each menu.

It counts the ``menu`` rows of ``call_steps`` of the calls selected by the
filters (``--flow`` selects the flow the menu belongs to, which differs from
the call's flow after a ``goto``). One row per menu and outcome: the choice
key, ``direct``, ``timeout`` or ``invalid`` (the caller ran out of retries),
``hangup`` (hung up at the menu) or ``error``.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from agi.reports import queries as q
from agi.reports.db import CdrReader
from agi.reports.model import COUNT, PERCENT, TEXT, Chart, Column, Filters, Report
from agi.reports.percent import percent
from agi.reports.rollup_plan import NOT_PENDING, plan
from agi.reports.stored_text import texts
from agi.safe_text import isolated

IVR_COLUMNS = (
    Column("flow", "Flow", TEXT, shrink=True), Column("menu", "Menu", TEXT, shrink=True),
    Column("choice", "Choice"), Column("times", "Times", COUNT), Column("share_pct", "Share", PERCENT),
    Column("timeouts", "Timeouts", COUNT), Column("invalid", "Invalid", COUNT),
    Column("retried", "Retried", COUNT),
)
#: Outcomes that are not keys, listed after the keys in this order.
_NOT_KEYS = ("direct", "timeout", "invalid", "hangup", "error")
_MAX_CHARTS = 12
_COUNTS = ("times", "timeouts", "invalid", "retried")


def ivr(reader: CdrReader, filters: Filters, now: datetime, *, charts: bool = False) -> Report:
    """Choices, timeouts and invalid entries per menu."""
    rows = _menu_rows(reader, filters)
    runs: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        runs[(row["flow"], row["menu"])] += row["times"]
    for row in rows:
        row["share_pct"] = percent(row["times"], runs[(row["flow"], row["menu"])])
    rows.sort(key=lambda r: (r["flow"] or "", r["menu"], _choice_order(r["choice"])))
    totals = {"flow": "total", "times": sum(r["times"] for r in rows),
              "timeouts": sum(r["timeouts"] for r in rows), "invalid": sum(r["invalid"] for r in rows),
              "retried": sum(r["retried"] for r in rows)}
    return Report("ivr", "IVR menus", IVR_COLUMNS, rows, filters, now, {}, totals,
                  _charts(rows, runs) if charts else ())


def _menu_rows(reader: CdrReader, filters: Filters) -> list[dict[str, Any]]:
    """Per flow, menu and choice: times, timeouts, invalid and retried; from
    the rollups where they hold the calls, else from the steps
    (agi/reports/rollup_plan.py). ``--flow`` is the menu's flow."""
    route = plan(reader, filters, None, ())
    parts = [(part, q.IVR, "s.flow") for part in route.raw]
    if route.rolled:
        parts.append((route.rolled, q.IVR_ROLLED, "c.flow"))
    found: dict[tuple[Any, ...], list[int]] = {}
    for part, sql, flow_column in parts:
        clause, params = q.where(part, flow_column=flow_column, dialect=reader.dialect)
        for row in reader.rows(reader.sql(sql, where=clause, not_pending=NOT_PENDING), params):
            counts = found.setdefault(texts(tuple(row)[:3], (0, 1, 2)), [0] * len(_COUNTS))
            for i, name in enumerate(_COUNTS):
                counts[i] += int(row[name] or 0)
    return [{"flow": flow, "menu": menu, "choice": choice, **dict(zip(_COUNTS, counts))}
            for (flow, menu, choice), counts in found.items()]


def _choice_order(choice: str | None) -> tuple[int, str]:
    text = choice or ""
    return (1 + _NOT_KEYS.index(text), "") if text in _NOT_KEYS else (0, text.rjust(10))


def _charts(rows: list[dict[str, Any]], runs: dict[tuple[str, str], int]) -> list[Chart]:
    # menus that ran as often in the table's order (flow, menu), not the order the database gave them in
    busiest = sorted(runs, key=lambda menu: (-runs[menu], menu[0] or "", menu[1]))[:_MAX_CHARTS]
    # the first chart says when menus are left out, as a chart of names does (model.largest)
    left_out = f" (the {_MAX_CHARTS} busiest of {len(runs):,} menus)" if len(runs) > _MAX_CHARTS else ""
    charts: list[Chart] = []
    for flow, menu in busiest:
        mine = [r for r in rows if (r["flow"], r["menu"]) == (flow, menu)]
        charts.append(Chart(f"Menu {isolated(menu)} ({isolated(flow)}): {runs[(flow, menu)]:,} times"
                            f"{'' if charts else left_out}",
                            [str(r["choice"]) for r in mine], [r["times"] for r in mine]))
    return charts

