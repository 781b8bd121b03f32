"""The ``agents`` report: per agent and queue, the inbound calls answered,
their talk time, ACD, AHT, ASA and the agent's share of the queue's
answered calls. Counted with agi/reports/aggregate.py (the measures of
agi/storage/call_measures.py), grouped by ``calls.agent`` and
``calls.queue``."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Mapping

from agi.reports.aggregate import DEFAULT_THRESHOLDS, Group, Thresholds, acd, aggregate, aht, asa, combine
from agi.reports.db import CdrReader
from agi.reports.model import COUNT, PERCENT, SECONDS, Chart, Column, Filters, Report, largest
from agi.reports.overview import label
from agi.reports.percent import percent

AGENT_COLUMNS = (
    Column("agent", "Agent", shrink=True), Column("queue", "Queue", shrink=True),
    Column("answered", "Answered", COUNT), Column("share_pct", "Share", PERCENT),
    Column("talk_s", "Talk", SECONDS), Column("acd_s", "ACD", SECONDS), Column("aht_s", "AHT", SECONDS),
    Column("asa_s", "ASA", SECONDS, table=False),
)


def agents(reader: CdrReader, filters: Filters, now: datetime, *, thresholds: Thresholds = DEFAULT_THRESHOLDS,
           charts: bool = False) -> Report:
    """One row per agent and queue with answered calls; agents by name, the
    queues of an agent by name (dials, without a queue, last); answered
    calls whose agent is unknown last, as ``-``."""
    # none of its figures depends on a threshold: counted with the rollups' own, it reads them
    groups = [g for g in aggregate(reader, filters, ("agent", "queue"), None, direction="inbound")
              if g.sums["answered"]]
    per_queue: dict[Any, int] = defaultdict(int)
    for group in groups:
        per_queue[group.key[1]] += group.sums["answered"]
    rows = [_row(g.key[0], g.key[1], g.sums, per_queue[g.key[1]]) for g in sorted(groups, key=_order)]
    total = combine(g.sums for g in groups)
    totals = {key: value for key, value in _row("total", None, total, 0).items() if key not in ("queue", "share_pct")}
    return Report("agents", "Agents", AGENT_COLUMNS, rows, filters, now,
                  {"short_abandon_s": thresholds.short_abandon, "service_level_s": thresholds.service_level},
                  totals, _charts(groups) if charts else ())


def _order(group: Group) -> tuple[Any, ...]:
    agent, queue = group.key
    return (agent is None, agent or "", queue is None, queue or "")


def _row(agent: Any, queue: Any, sums: Mapping[str, Any], queue_answered: int) -> dict[str, Any]:
    share = percent(sums["answered"], queue_answered)
    return {"agent": agent, "queue": queue, "answered": sums["answered"], "share_pct": share,
            "talk_s": sums["talk_s"], "acd_s": acd(sums), "aht_s": aht(sums), "asa_s": asa(sums)}


def _charts(groups: list[Group]) -> list[Chart]:
    """Answered calls per agent (every queue together), the busiest first."""
    answered: dict[Any, int] = defaultdict(int)
    for group in groups:
        answered[group.key[0]] += group.sums["answered"]
    ordered = sorted(answered, key=lambda agent: (-answered[agent], label(agent)))
    title, busiest = largest("Answered calls per agent", ordered, lambda agent: answered[agent], "answered calls")
    return [Chart(title, [label(a) for a in busiest], [answered[a] for a in busiest])]
