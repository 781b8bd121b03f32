"""The call log (``calls``), ``summary`` and ``inbound`` reports, and the
charts most pages show: calls over time (agi/reports/timeline.py), calls
per hour of the day and outcomes.
``summary`` and ``inbound`` count with agi/reports/aggregate.py."""
from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any, Mapping, Sequence

from agi.reports import queries as q
from agi.reports.aggregate import (DEFAULT_THRESHOLDS, Thresholds, abandon_rate, acd, aggregate, aht, asa, asr, combine,
                                   service_level)
from agi.reports.compliance import CONSENT_ALLOWS
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import (COUNT, PERCENT, SECONDS, TEXT, TIME, Chart, Column, Filters, Report, StreamedRows,
                               largest, shrinks)
from agi.reports.stored_text import texts
from agi.reports.timeline import over_range, timeline_charts
from agi.reports.timerange import parse_stored, wall_time

CALL_LOG_COLUMNS = (
    Column("started", "Started", TIME), Column("caller", "Caller"),
    Column("caller_name", "Caller name", table=False),
    Column("called", "Called", table=False), Column("flow", "Flow", shrink=True),
    Column("flow_version", "Version", table=False),
    Column("path", "Path", shrink=True), Column("outcome", "Outcome"),
    Column("status", "Status", table=False), Column("queue", "Queue", table=False),
    Column("agent", "Agent", shrink=True),
    Column("wait_s", "Wait", SECONDS), Column("talk_s", "Talk", SECONDS, table=False),
    Column("duration_s", "Dur", SECONDS), Column("vip", "VIP", table=False),
    Column("consent", "Consent", table=False), Column("recording", "Recording", table=False),
    Column("hangup_cause", "Hangup cause", table=False),
    Column("call_id", "Call id", table=False), Column("error", "Error", table=False),
    Column("recorded_without_consent", "Recorded without consent", table=False),
)
#: The dimensions of agi/reports/aggregate.py each report groups by.
TIME_GROUPS = ("day", "weekday", "hour", "interval15", "interval30", "interval60")
SUMMARY_GROUPS = ("flow", "version", "outcome", "status", "queue", "agent", "direction", *TIME_GROUPS)
INBOUND_GROUPS = ("flow", "version", "queue", "agent", *TIME_GROUPS)
#: Grouped by version, rows also say when each version's first and last call started.
SPAN_COLUMNS = (Column("first", "First call", TIME), Column("last", "Last call", TIME))


def calls(reader: CdrReader, filters: Filters, now: datetime, *, charts: bool = False,
          statuses: Sequence[str] = (), outcomes: Sequence[str] = (), limit: int | None = None) -> Report:
    """The call log, newest first."""
    clause, params = q.where(filters, dialect=reader.dialect)
    extra = [q.in_list("c.status", "status", tuple(statuses), params),
             q.in_list(f"({q.OUTCOME})", "outcome", tuple(outcomes), params)]
    clause = " AND ".join([clause, *filter(None, extra)])
    params["limit"] = reader.dialect.no_limit if limit is None else limit
    sql = reader.sql(q.CALL_LOG, where=clause, recorded=q.RECORDED)
    tz = filters.tz
    rows = StreamedRows(lambda: (_call_row(row, tz) for row in reader.stream(sql, params)))
    options = {"status": list(statuses), "outcome": list(outcomes), "limit": limit}
    return Report("calls", "Call log", CALL_LOG_COLUMNS, rows, filters, now, options,
                  charts=overview_charts(reader, filters, now) if charts else (),
                  flag="recorded_without_consent", flag_note="a recording was made without consent")


#: The positions of the text columns in a row of ``queries.CALL_LOG``.
_CALL_LOG_TEXTS = (*range(1, 12), 16, 17, 18, 19)


def _call_row(row: tuple[Any, ...], tz: tzinfo | None) -> dict[str, Any]:
    """A row of ``queries.CALL_LOG`` (a tuple, in its column order) as the call log's row."""
    (started_at, call_id, caller, caller_name, called, flow, flow_version, path, outcome, status, queue, agent,
     wait, talk_time, duration, vip, consent, recording, hangup_cause, error, recorded) = texts(row, _CALL_LOG_TEXTS)
    return {"started": parse_stored(started_at).astimezone(tz), "caller": caller, "caller_name": caller_name,
            "agent": agent, "hangup_cause": hangup_cause, "called": called, "flow": flow,
            "flow_version": flow_version, "path": path_summary(path), "outcome": outcome, "status": status,
            "queue": queue, "wait_s": wait, "talk_s": talk_time, "duration_s": duration, "vip": bool(vip),
            "consent": consent, "recording": recording, "call_id": call_id, "error": error,
            "recorded_without_consent": bool(recorded) and consent not in CONSENT_ALLOWS}


def path_summary(path: str | None) -> str | None:
    """``answer:next > menu:2 > queue:answered`` as ``answer > menu:2 > queue:answered``."""
    if not path:
        return None
    return " > ".join(part[:-5] if part.endswith(":next") else part for part in path.split(" > "))


def summary(reader: CdrReader, filters: Filters, now: datetime, *, by: str = "flow",
            thresholds: Thresholds = DEFAULT_THRESHOLDS, charts: bool = False) -> Report:
    """Counts and durations of every call, per flow, outcome, status, queue,
    agent, direction or time."""
    _check_group(by, SUMMARY_GROUPS)
    groups = aggregate(reader, filters, (by,), thresholds)
    rows = _order([_summary_row(g.key[0], g.sums, filters) for g in groups], by, "calls")
    columns = (_key_column(by), Column("calls", "Calls", COUNT), Column("offered", "Offered", COUNT, table=False),
               Column("answered", "Answered", COUNT), Column("abandoned", "Abandoned", COUNT),
               Column("hung_up", "Hung up", COUNT), Column("failed", "Failed", COUNT),
               Column("total_s", "Total", SECONDS), Column("avg_s", "Avg", SECONDS),
               Column("max_s", "Max", SECONDS, table=False), Column("asa_s", "ASA", SECONDS),
               *(SPAN_COLUMNS if by == "version" else ()))
    totals = _summary_row("total", combine(g.sums for g in groups), filters)
    return Report("summary", f"Summary by {by}", columns, rows, filters, now, _options(by, thresholds), totals,
                  overview_charts(reader, filters, now) if charts else ())


def _summary_row(key: Any, sums: Mapping[str, Any], filters: Filters) -> dict[str, Any]:
    return {"key": key, **{name: sums[name] for name in ("calls", "offered", "answered", "abandoned", "hung_up",
                                                         "failed")},
            "total_s": sums["duration_s"], "avg_s": sums["duration_s"] / sums["timed"] if sums["timed"] else None,
            "max_s": sums["max_duration_s"], "asa_s": asa(sums), **_span(sums, filters)}


def inbound(reader: CdrReader, filters: Filters, now: datetime, *, by: str = "flow",
            thresholds: Thresholds = DEFAULT_THRESHOLDS, charts: bool = False) -> Report:
    """The contact-center figures of the inbound calls (offered, answered,
    abandoned, ASR, service level, DUR, ACD, ASA, AHT) per flow, queue,
    agent or time."""
    _check_group(by, INBOUND_GROUPS)
    groups = aggregate(reader, filters, (by,), thresholds, direction="inbound", finished=True)
    rows = _order([_inbound_row(g.key[0], g.sums, filters) for g in groups], by, "offered")
    columns = (_key_column(by), Column("offered", "Offered", COUNT), Column("answered", "Answ.", COUNT),
               Column("abandoned", "Aband.", COUNT), Column("short_abandoned", "Short ab.", COUNT, table=False),
               Column("asr_pct", "ASR", PERCENT), Column("abandon_pct", "Ab. rate", PERCENT),
               Column("sl_pct", "SL", PERCENT), Column("dur_s", "DUR", SECONDS), Column("acd_s", "ACD", SECONDS),
               Column("asa_s", "ASA", SECONDS), Column("aht_s", "AHT", SECONDS, table=False),
               *(SPAN_COLUMNS if by == "version" else ()))
    totals = _inbound_row("total", combine(g.sums for g in groups), filters)
    return Report("inbound", f"Inbound by {by}", columns, rows, filters, now, _options(by, thresholds), totals,
                  charts=_inbound_charts(reader, filters, now, by, rows) if charts else ())


def _inbound_charts(reader: CdrReader, filters: Filters, now: datetime, by: str,
                    rows: list[dict[str, Any]]) -> list[Chart]:
    """ASR per group (the 15 with most offered calls of a grouping of names;
    no value on a day or an hour without calls), then the charts of the
    inbound calls over time, per hour and per outcome."""
    title, shown = (f"ASR by {by}", rows) if by in TIME_GROUPS else \
        largest(f"ASR by {by}", rows, lambda r: r["offered"], "offered calls")
    asr_by = over_range(by, [(r["key"], r["asr_pct"]) for r in shown], None, reader, filters, now)
    chart = Chart(title, [label(key) for key, _ in asr_by], [value for _, value in asr_by],
                  horizontal=by not in TIME_GROUPS, unit="%", emphasis=repeated_starts([key for key, _ in asr_by]))
    return [chart, *overview_charts(reader, filters, now, inbound=True)]


def _inbound_row(key: Any, sums: Mapping[str, Any], filters: Filters) -> dict[str, Any]:
    return {"key": key, **{name: sums[name] for name in ("offered", "answered", "abandoned", "short_abandoned")},
            "asr_pct": asr(sums), "abandon_pct": abandon_rate(sums),
            "sl_pct": service_level(sums), "dur_s": sums["talk_s"], "acd_s": acd(sums),
            "asa_s": asa(sums), "aht_s": aht(sums), **_span(sums, filters)}


def _options(by: str, thresholds: Thresholds) -> dict[str, Any]:
    return {"by": by, "short_abandon_s": thresholds.short_abandon, "service_level_s": thresholds.service_level}


def overview_charts(reader: CdrReader, filters: Filters, now: datetime, inbound: bool = False) -> list[Chart]:
    """The calls over time, calls per hour of the day (in the report's zone)
    and calls per outcome: of every call, or (``inbound``) of the inbound
    calls that have ended, the calls of the ``inbound`` report. They count
    with no threshold, so the rollups answer whatever thresholds counted them."""
    direction = "inbound" if inbound else None
    hours = {int(g.key[0]): g.sums["calls"]
             for g in aggregate(reader, filters, ("hour",), None, direction, finished=inbound)}
    outcomes = {g.key[0]: g.sums["calls"]
                for g in aggregate(reader, filters, ("outcome",), None, direction, finished=inbound)}
    ordered = [o for o in q.OUTCOMES if o in outcomes]
    return [*timeline_charts(reader, filters, now, inbound),
            Chart("Calls per hour of the day", [f"{h:02d}" for h in range(24)],
                  [hours.get(h, 0) for h in range(24)], horizontal=False),
            Chart("Outcomes", ordered, [outcomes[o] for o in ordered], outcomes=True)]


def repeated_starts(keys: Sequence[Any]) -> list[int]:
    """The indices of the intervals that start a repeated wall time at a
    new offset (the first ``02:00+02`` and the first ``02:00+01`` the night
    the clocks go back): the labels a chart's axis writes first."""
    marked = []
    for i, key in enumerate(keys):
        if isinstance(key, datetime) and wall_time(key) != wall_time(key.replace(tzinfo=None)):
            before = keys[i - 1] if i else None
            if not (isinstance(before, datetime) and before.utcoffset() == key.utcoffset()
                    and wall_time(before) != wall_time(before.replace(tzinfo=None))):
                marked.append(i)
    return marked


def label(value: Any) -> str:
    """A group's key as chart text: ``-`` for none, an interval as its
    start, with its UTC offset where that wall time comes twice
    (``2025-10-26 02:00+02`` and ``2025-10-26 02:00+01`` in Madrid)."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return wall_time(value)
    return str(value)


_TITLES = {"version": "Flow@version", "interval15": "15 min from", "interval30": "30 min from",
           "interval60": "Hour from"}


def _key_column(by: str) -> Column:
    if by.startswith("interval"):
        return Column("key", _TITLES[by], TIME)
    return Column("key", _TITLES.get(by, by.capitalize()), TEXT, shrink=shrinks(by))


def _span(sums: Mapping[str, Any], filters: Filters) -> dict[str, Any]:
    """When the group's first and last call started, in the report's zone."""
    return {name: parse_stored(sums[f"{name}_at"]).astimezone(filters.tz) if sums[f"{name}_at"] else None
            for name in ("first", "last")} | {"first_at": sums["first_at"]}


def _order(rows: list[dict[str, Any]], by: str, size: str) -> list[dict[str, Any]]:
    """Times in time order (as aggregate() gives them); versions by flow,
    then by their first call (so a flow's versions read in the order they
    ran); anything else by ``size`` (calls, offered), most first."""
    if by == "version":
        return sorted(rows, key=lambda r: (label(r["key"]).rsplit("@", 1)[0], r["first_at"] or "", label(r["key"])))
    if by in TIME_GROUPS:
        return rows
    return sorted(rows, key=lambda r: (-r[size], label(r["key"])))


def _check_group(by: str, allowed: Sequence[str]) -> None:
    if by not in allowed:
        raise ReportError(f"cannot group by {by!r}; choose one of {', '.join(allowed)}")
