"""The ``campaign`` report: the outbound legs (calls of flows with
``direction: outbound``) that have ended, per flow, day or hour: how many
were kept from dialling by a list or by the hours, how many ``Dial()``
placed, and what came of them (answered, busy, no answer, other), with
ASR = answered / dialled and the talk time of the answered ones."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from agi.reports import queries as q
from agi.reports.aggregate import time_parts
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, Chart, Column, Filters, Report, largest, shrinks
from agi.reports.overview import label
from agi.reports.percent import percent
from agi.reports.rollup_plan import NOT_PENDING, plan
from agi.reports.stored_text import as_text
from agi.reports.timeline import over_range
from agi.storage.call_measures import CAMPAIGN_SUMS

CAMPAIGN_GROUPS = ("flow", "day", "hour")
#: The counts of each row, as summed (the talk is summed in milliseconds).
_COUNTS = tuple(name for name in CAMPAIGN_SUMS if name != "talk_ms")
CAMPAIGN_COLUMNS = (
    Column("attempts", "Legs", COUNT), Column("blocked_list", "Listed", COUNT),
    Column("blocked_hours", "Hours", COUNT), Column("dialled", "Dialled", COUNT),
    Column("answered", "Answ.", COUNT), Column("asr_pct", "ASR", PERCENT),
    Column("busy", "Busy", COUNT, table=False), Column("no_answer", "No answer", COUNT, table=False),
    Column("failed", "Other", COUNT, table=False),
    Column("talk_s", "Talk", SECONDS, table=False), Column("acd_s", "ACD", SECONDS),
)


def campaign(reader: CdrReader, filters: Filters, now: datetime, *, by: str = "flow",
             charts: bool = False) -> Report:
    """Outbound legs per ``by``: flows by legs, most first; days and hours
    in time order."""
    if by not in CAMPAIGN_GROUPS:
        raise ReportError(f"cannot group campaign legs by {by!r}; choose one of {', '.join(CAMPAIGN_GROUPS)}")
    found = _sums(reader, filters, by)
    rows = [_row(key, sums) for key, sums in found.items()]
    rows.sort(key=lambda r: (-r["attempts"], label(r["key"])) if by == "flow" else label(r["key"]))
    totals = _row("total", {name: sum(sums[name] for sums in found.values()) for name in CAMPAIGN_SUMS})
    columns = (Column("key", by.capitalize(), TEXT, shrink=shrinks(by)), *CAMPAIGN_COLUMNS)
    return Report("campaign", f"Campaign legs by {by}", columns, rows, filters, now, {"by": by}, totals,
                  _charts(by, rows, totals, reader, filters, now) if charts else ())


def _sums(reader: CdrReader, filters: Filters, by: str) -> dict[Any, dict[str, int]]:
    """The sums of ``CAMPAIGN_SUMS`` per key of ``by``: from the campaign
    rollups where they hold the legs (schema version 7 on), else from the
    calls (agi/reports/rollup_plan.py). Whole numbers: they add up exactly."""
    route = plan(reader, filters, None, (by,))
    parts = [(part, q.CAMPAIGN) for part in route.raw]
    if route.rolled:
        parts.append((route.rolled, q.CAMPAIGN_ROLLED))
    found: dict[Any, dict[str, int]] = {}
    for part, sql in parts:
        clause, params = q.where(part, dialect=reader.dialect)
        group = reader.sql(q.GROUPS[by], **time_parts(reader, part, params))
        for row in reader.rows(reader.sql(sql, group=group, where=clause, not_pending=NOT_PENDING), params):
            key = row["key"] if by == "weekday" else as_text(row["key"])
            sums = found.setdefault(key, dict.fromkeys(CAMPAIGN_SUMS, 0))
            for name in CAMPAIGN_SUMS:
                sums[name] += int(row[name] or 0)
    return found


def _row(key: Any, sums: dict[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key, **{name: sums[name] for name in _COUNTS}}
    row["talk_s"] = sums["talk_ms"] / 1000  # 0 when no answered leg's talk time is known, as inbound's DUR
    row["asr_pct"] = percent(row["answered"], row["dialled"])
    row["acd_s"] = row["talk_s"] / row["talked"] if row["talked"] else None
    return row


def _charts(by: str, rows: list[dict[str, Any]], totals: dict[str, Any], reader: CdrReader, filters: Filters,
            now: datetime) -> list[Chart]:
    """What became of the legs; ASR per group (the 15 flows with most legs;
    no value on a day or an hour without legs)."""
    results = {"blocked by a list": totals["blocked_list"], "blocked by the hours": totals["blocked_hours"],
               "answered": totals["answered"], "busy": totals["busy"], "no answer": totals["no_answer"],
               "other dial status": totals["failed"]}
    title, shown = largest(f"ASR by {by}", rows, lambda r: r["attempts"], "legs") if by == "flow" else \
        (f"ASR by {by}", rows)
    asr_by = over_range(by, [(r["key"], r["asr_pct"]) for r in shown], None, reader, filters, now)
    return [Chart("What became of the legs", list(results), list(results.values()), outcomes=True),
            Chart(title, [label(key) for key, _ in asr_by], [value for _, value in asr_by],
                  horizontal=by == "flow", unit="%")]
