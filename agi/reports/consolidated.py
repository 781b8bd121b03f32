"""The ``consolidated`` report: the contact-center figures of every call
crossed by one or two groupings (queue, agent, flow, outcome, day,
weekday, hour, 15/30/60-minute intervals), one row per pair of values.
Counted with agi/reports/aggregate.py: the measures count inbound calls,
``calls`` counts every call, as in ``summary``."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from agi.reports.aggregate import (DEFAULT_THRESHOLDS, Group, Thresholds, abandon_rate, acd, aggregate, aht, asa, asr,
                                   combine, service_level, sort_value)
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, TIME, Chart, Column, Filters, Report, largest, shrinks
from agi.reports.overview import label, repeated_starts
from agi.reports.timeline import over_range

#: What ``--by`` may name, in the order the docs list them.
CONSOLIDATED_GROUPS = ("queue", "agent", "flow", "outcome", "day", "weekday", "hour",
                       "interval15", "interval30", "interval60")
DEFAULT_BY = ("queue", "day")
#: The groupings of names, whose charts draw the largest groups (agi/reports/model.py's ``largest``).
NAMES = ("queue", "agent", "flow")
_TITLES = {"interval15": "15 min from", "interval30": "30 min from", "interval60": "Hour from"}
FIGURE_COLUMNS = (
    Column("calls", "Calls", COUNT), Column("offered", "Offered", COUNT), Column("answered", "Answ.", COUNT),
    Column("abandoned", "Aband.", COUNT), Column("short_abandoned", "Short ab.", COUNT, table=False),
    Column("asr_pct", "ASR", PERCENT), Column("abandon_pct", "Ab. rate", PERCENT, table=False),
    Column("sl_pct", "SL", PERCENT), Column("dur_s", "DUR", SECONDS, table=False),
    Column("acd_s", "ACD", SECONDS), Column("asa_s", "ASA", SECONDS), Column("aht_s", "AHT", SECONDS, table=False),
)


def dimension_column(name: str) -> Column:
    """The column of a grouping's values, keyed by its name."""
    if name.startswith("interval"):
        return Column(name, _TITLES[name], TIME)
    return Column(name, name.capitalize(), TEXT, shrink=shrinks(name))


def consolidated(reader: CdrReader, filters: Filters, now: datetime, *, by: Sequence[str] = DEFAULT_BY,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS, charts: bool = False) -> Report:
    """The figures per value of ``by`` (one or two groupings), in the order
    of the first grouping's values, then the second's."""
    by = tuple(by)
    bad = [name for name in by if name not in CONSOLIDATED_GROUPS]
    if bad or not 1 <= len(by) <= 2 or len(set(by)) != len(by):
        raise ReportError(f"give one or two different groupings (--by) among {', '.join(CONSOLIDATED_GROUPS)}"
                          + (f"; not {', '.join(bad)}" if bad else ""))
    groups = aggregate(reader, filters, by, thresholds)
    rows = [{**dict(zip(by, group.key)), **figures(group.sums)} for group in groups]
    totals = {by[0]: "total", **figures(combine(g.sums for g in groups))}
    title = f"Consolidated by {' and '.join(by)}"
    options = {"by": list(by), "short_abandon_s": thresholds.short_abandon,
               "service_level_s": thresholds.service_level}
    return Report("consolidated", title, (*map(dimension_column, by), *FIGURE_COLUMNS), rows, filters, now, options,
                  totals, _charts(by, groups, reader, filters, now) if charts else ())


def figures(sums: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of FIGURE_COLUMNS from a group's sums."""
    return {**{name: sums[name] for name in ("calls", "offered", "answered", "abandoned", "short_abandoned")},
            "asr_pct": asr(sums), "abandon_pct": abandon_rate(sums), "sl_pct": service_level(sums),
            "dur_s": sums["talk_s"], "acd_s": acd(sums), "asa_s": asa(sums), "aht_s": aht(sums)}


def _charts(by: tuple[str, ...], groups: list[Group], reader: CdrReader, filters: Filters,
            now: datetime) -> list[Chart]:
    """Calls per value of each grouping (the other one added up): of names,
    the 15 with most calls; a day of the range or an hour of the day without
    calls is a 0."""
    charts = []
    for index, name in enumerate(by):
        # keyed by sort_value: the two 02:00 of the night the clocks go back are equal datetimes
        totals: dict[Any, tuple[Any, int]] = {}
        for group in groups:
            key = group.key[index]
            seen = totals.get(sort_value(name, key), (key, 0))
            totals[sort_value(name, key)] = (key, seen[1] + group.sums["calls"])
        values = over_range(name, [totals[order] for order in sorted(totals)], 0, reader, filters, now)
        title = f"Calls by {name}"
        if name in NAMES:
            title, values = largest(title, values, lambda pair: pair[1], "calls")
        charts.append(Chart(title, [label(key) for key, _ in values], [calls for _, calls in values],
                            horizontal=name not in ("hour", "day", "weekday") and not name.startswith("interval"),
                            outcomes=name == "outcome", emphasis=repeated_starts([key for key, _ in values])))
    return charts
