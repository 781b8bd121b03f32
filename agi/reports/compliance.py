"""The ``compliance`` report: do-not-call (Robinson) checks by list, recording
consent answers, calls recorded (every recording command agiflow sent counts,
whichever step sent it) and any recorded without consent, commands the
call's guard refused, and callers blocked by list. One row per item; ``share_pct`` is relative to the base
named in docs/reports.md (all calls, calls checked, calls asked...)."""
from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from agi.reports import queries as q
from agi.reports.db import CdrReader
from agi.reports.model import COUNT, PERCENT, TEXT, Chart, Column, Filters, Report
from agi.reports.percent import percent
from agi.reports.rollup_plan import NOT_PENDING, plan
from agi.reports.stored_text import texts
from agi.storage.call_measures import COMPLIANCE_FLAGS, COMPLIANCE_KEYS

COMPLIANCE_COLUMNS = (
    Column("section", "Section", TEXT), Column("item", "Item", TEXT, shrink=True),
    Column("list", "List", TEXT, shrink=True), Column("calls", "Calls", COUNT),
    Column("share_pct", "Share", PERCENT),
)
#: The positions of the compliance keys that are text.
_TEXT_KEYS = tuple(i for i, name in enumerate(COMPLIANCE_KEYS) if name not in COMPLIANCE_FLAGS)
#: Consent values that allow a recording: asked and accepted, or notified.
CONSENT_ALLOWS = ("accepted", "notified")
_CONSENT_ORDER = ("accepted", "declined", "no_answer", "notified", "never")


def compliance(reader: CdrReader, filters: Filters, now: datetime, *, charts: bool = False) -> Report:
    groups = _groups(reader, filters)
    total = sum(g["calls"] for g in groups)
    rows = [_row("calls", "all calls", None, total, total)]
    rows += _robinson_rows(groups, total)
    consent = Counter({g["consent"]: 0 for g in groups if g["consent"]})
    for g in groups:
        if g["consent"]:
            consent[g["consent"]] += g["calls"]
    asked = sum(consent.values())
    names = [c for c in _CONSENT_ORDER if c in consent or c in _CONSENT_ORDER[:3]]
    names += sorted(set(consent) - set(names))
    rows += [_row("consent", name, None, consent[name], asked) for name in names]
    recorded = sum(g["calls"] for g in groups if g["recorded"])
    unconsented = sum(g["calls"] for g in groups if g["recorded"] and g["consent"] not in CONSENT_ALLOWS)
    rows += [_row("recording", "recorded", None, recorded, total),
             {**_row("recording", "without consent", None, unconsented, recorded), "flagged": unconsented > 0}]
    rows += [_row("refused", item, None, sum(g["calls"] for g in groups if g[key]), total)
             for item, key in (("do-not-call", "refused_dial"), ("no consent", "refused_recording"))]
    blocked: Counter[str] = Counter()
    for g in groups:
        if g["blocked"]:
            blocked[g["blocked"]] += g["calls"]
    rows += [_row("blocked", "blocked", name, n, total) for name, n in sorted(blocked.items())]
    chart_list = [Chart("Recording consent", names, [consent[n] for n in names])]
    robinson = [r for r in rows if r["section"] == "robinson" and r["item"] != "checked"]
    chart_list.append(Chart("Do-not-call checks", [_chart_label(r) for r in robinson], [r["calls"] for r in robinson]))
    return Report("compliance", "Compliance", COMPLIANCE_COLUMNS, rows, filters, now, {},
                  charts=chart_list if charts else (), flag="flagged",
                  flag_note="recorded without consent", flag_calls="calls")


def _groups(reader: CdrReader, filters: Filters) -> list[dict[str, Any]]:
    """Calls per compliance key: from the rollups where they hold the calls,
    else from the calls (agi/reports/rollup_plan.py)."""
    route = plan(reader, filters, None, ())
    parts = [(part, q.COMPLIANCE) for part in route.raw]
    if route.rolled:
        parts.append((route.rolled, q.COMPLIANCE_ROLLED))
    calls: Counter[tuple[Any, ...]] = Counter()
    for part, sql in parts:
        clause, params = q.where(part, dialect=reader.dialect)
        for row in reader.rows(reader.sql(sql, where=clause, not_pending=NOT_PENDING), params):
            calls[texts(tuple(row)[:-1], _TEXT_KEYS)] += int(row["calls"])
    return [{**dict(zip(COMPLIANCE_KEYS, key)), "calls": n} for key, n in calls.items()]


def _robinson_rows(groups: list[dict[str, Any]], total: int) -> list[dict[str, Any]]:
    checked = sum(g["calls"] for g in groups if g["robinson"])
    results: Counter[tuple[str, str | None]] = Counter()
    for g in groups:
        if g["robinson"]:
            list_name = g["robinson_list"] if g["robinson"] != "clear" else None
            results[(g["robinson"], list_name)] += g["calls"]
    results.setdefault(("clear", None), 0)
    if not any(result == "listed" for result, _ in results):
        results[("listed", None)] = 0
    order = {"clear": 0, "listed": 1, "error": 2, "unchecked": 3}
    keys = sorted(results, key=lambda k: (order.get(k[0], 4), k[0], k[1] or ""))
    return ([_row("robinson", "checked", None, checked, total)]
            + [_row("robinson", result, name, results[(result, name)], checked) for result, name in keys])


def _row(section: str, item: str, list_name: str | None, calls: int, base: int) -> dict[str, Any]:
    return {"section": section, "item": item, "list": list_name, "calls": calls,
            "share_pct": percent(calls, base)}


def _chart_label(row: dict[str, Any]) -> str:
    return f"{row['item']}: {row['list']}" if row["list"] else str(row["item"])
