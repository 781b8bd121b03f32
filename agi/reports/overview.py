"""The call log (``calls``), ``summary`` and ``inbound`` reports, and the
two charts most pages show: calls per hour of the day and outcomes."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from agi.reports import queries as q
from agi.reports.compliance import CONSENT_ALLOWS
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, TIME, Chart, Column, Filters, Report, StreamedRows
from agi.reports.localtime import local_time_sql
from agi.reports.timeline import span, timeline_charts
from agi.reports.timerange import UTC, parse_stored

CALL_LOG_COLUMNS = (
    Column("started", "Started", TIME), Column("caller", "Caller"),
    Column("called", "Called", table=False), Column("flow", "Flow", shrink=True),
    Column("flow_version", "Version", table=False),
    Column("path", "Path", shrink=True), Column("outcome", "Outcome"),
    Column("status", "Status", table=False), Column("queue", "Queue", table=False),
    Column("wait_s", "Wait", SECONDS), Column("talk_s", "Talk", SECONDS, table=False),
    Column("duration_s", "Dur", SECONDS), Column("vip", "VIP", table=False),
    Column("consent", "Consent", table=False), Column("recording", "Recording", table=False),
    Column("call_id", "Call id", table=False), Column("error", "Error", table=False),
    Column("recorded_without_consent", "Recorded without consent", table=False),
)
SUMMARY_GROUPS = ("flow", "version", "outcome", "status", "queue", "day", "hour")
INBOUND_GROUPS = ("flow", "version", "queue", "day", "hour")
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
    rows = StreamedRows(lambda: (_call_row(row, filters) for row in reader.stream(sql, params)))
    options = {"status": list(statuses), "outcome": list(outcomes), "limit": limit}
    return Report("calls", "Call log", CALL_LOG_COLUMNS, rows, filters, now, options,
                  charts=overview_charts(reader, filters, now) if charts else (),
                  flag="recorded_without_consent", flag_note="a recording was made without consent")


def _call_row(row: Any, filters: Filters) -> dict[str, Any]:
    return {"started": parse_stored(row["started_at"]).astimezone(filters.tz), "caller": row["caller"],
            "called": row["called"], "flow": row["flow"], "flow_version": row["flow_version"],
            "path": path_summary(row["path"]),
            "outcome": row["outcome"], "status": row["status"], "queue": row["queue"],
            "wait_s": row["queue_wait"], "talk_s": row["talk_time"], "duration_s": row["duration"],
            "vip": bool(row["vip"]), "consent": row["consent"], "recording": row["recording"],
            "call_id": row["call_id"], "error": row["error"],
            "recorded_without_consent": bool(row["recorded"]) and row["consent"] not in CONSENT_ALLOWS}


def path_summary(path: str | None) -> str | None:
    """``answer:next > menu:2 > queue:answered`` as ``answer > menu:2 > queue:answered``."""
    if not path:
        return None
    return " > ".join(part[:-5] if part.endswith(":next") else part for part in path.split(" > "))


def summary(reader: CdrReader, filters: Filters, now: datetime, *, by: str = "flow",
            charts: bool = False) -> Report:
    """Counts and durations per flow, outcome, status, queue, day or hour."""
    _check_group(by, SUMMARY_GROUPS)
    clause, params = q.where(filters, dialect=reader.dialect)
    group = reader.sql(q.GROUPS[by], local=local_start(reader, filters, params))
    rows = _order(_spans([dict(row) for row in reader.rows(reader.sql(q.SUMMARY, group=group, where=clause), params)],
                         filters), by)
    columns = (Column("key", _title(by), TEXT, shrink=True), Column("calls", "Calls", COUNT),
               Column("answered", "Answered", COUNT), Column("hung_up", "Hung up", COUNT),
               Column("failed", "Failed", COUNT), Column("total_s", "Total", SECONDS),
               Column("avg_s", "Avg", SECONDS), Column("max_s", "Max", SECONDS),
               Column("avg_wait_s", "Avg wait", SECONDS), *(SPAN_COLUMNS if by == "version" else ()))
    totals = _summary_totals(rows)
    return Report("summary", f"Summary by {by}", columns, rows, filters, now, {"by": by}, totals,
                  overview_charts(reader, filters, now) if charts else ())


def _summary_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> float:
        return sum(r[key] or 0 for r in rows)
    timed, waited = total("timed"), total("waited")
    wait = sum((r["avg_wait_s"] or 0) * r["waited"] for r in rows)
    return {"key": "total", "calls": total("calls"), "answered": total("answered"),
            "hung_up": total("hung_up"), "failed": total("failed"), "total_s": total("total_s"),
            "avg_s": total("total_s") / timed if timed else None,
            "max_s": max((r["max_s"] for r in rows if r["max_s"] is not None), default=None),
            "avg_wait_s": wait / waited if waited else None}


def inbound(reader: CdrReader, filters: Filters, now: datetime, *, by: str = "flow",
            charts: bool = False) -> Report:
    """DUR, ACD and ASR per flow, queue, day or hour."""
    _check_group(by, INBOUND_GROUPS)
    clause, params = q.where(filters, dialect=reader.dialect)
    group = reader.sql(q.GROUPS[by], local=local_start(reader, filters, params))
    rows = _spans([dict(row) for row in reader.rows(reader.sql(q.INBOUND, group=group, where=clause), params)], filters)
    for row in rows:
        row["asr_pct"] = _pct(row["answered"], row["calls"])
    rows = _order(rows, by)
    columns = (Column("key", _title(by), TEXT, shrink=True), Column("calls", "Calls", COUNT),
               Column("answered", "Answered", COUNT), Column("asr_pct", "ASR", PERCENT),
               Column("abandoned", "Abandoned", COUNT), Column("dur_s", "DUR", SECONDS),
               Column("acd_s", "ACD", SECONDS), Column("avg_wait_s", "Avg wait", SECONDS),
               Column("max_wait_s", "Max wait", SECONDS), *(SPAN_COLUMNS if by == "version" else ()))
    chart = Chart(f"ASR by {by}", [label(r["key"]) for r in rows], [r["asr_pct"] or 0 for r in rows],
                  horizontal=by not in ("hour", "day"), unit="%")
    return Report("inbound", f"Inbound by {by}", columns, rows, filters, now, {"by": by}, _inbound_totals(rows),
                  charts=[chart, *overview_charts(reader, filters, now)] if charts else ())


def _inbound_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> float:
        return sum(r[key] or 0 for r in rows)
    talked, waited = total("talked"), total("waited")
    return {"key": "total", "calls": total("calls"), "answered": total("answered"),
            "asr_pct": _pct(total("answered"), total("calls")), "abandoned": total("abandoned"),
            "dur_s": total("dur_s"),
            "acd_s": sum((r["acd_s"] or 0) * r["talked"] for r in rows) / talked if talked else None,
            "avg_wait_s": sum((r["avg_wait_s"] or 0) * r["waited"] for r in rows) / waited if waited else None,
            "max_wait_s": max((r["max_wait_s"] for r in rows if r["max_wait_s"] is not None), default=None)}


def overview_charts(reader: CdrReader, filters: Filters, now: datetime) -> list[Chart]:
    """The calls over time (agi/reports/timeline.py), calls per hour of the
    day (in the report's zone) and calls per outcome."""
    clause, params = q.where(filters, dialect=reader.dialect)
    local = local_start(reader, filters, params)
    hours = {int(row["hour"]): row["calls"]
             for row in reader.rows(reader.sql(q.CALLS_PER_HOUR, where=clause, local=local), params)}
    outcomes = {row["outcome"]: row["calls"] for row in reader.rows(reader.sql(q.OUTCOME_COUNTS, where=clause), params)}
    ordered = [o for o in q.OUTCOMES if o in outcomes]
    first, last = reader.rows(q.TIME_SPAN)[0]
    covered = span(first, last, filters.since, filters.until, now)
    over_time = timeline_charts(reader.rows(reader.sql(q.CALLS_PER_LOCAL_HOUR, where=clause, local=local), params),
                                filters.tz or UTC, *covered) if covered else []
    return [*over_time,
            Chart("Calls per hour of the day", [f"{h:02d}" for h in range(24)],
                  [hours.get(h, 0) for h in range(24)], horizontal=False),
            Chart("Outcomes", ordered, [outcomes[o] for o in ordered])]


def local_start(reader: CdrReader, filters: Filters, params: dict[str, Any]) -> str:
    """SQL for the local time a call started, exact over the calls the
    filters can select."""
    first, last = reader.rows(q.TIME_SPAN)[0]
    low = max(filter(None, [filters.since, parse_stored(first) if first else None]), default=None)
    high = min(filter(None, [filters.until, parse_stored(last) if last else None]), default=None)
    low = low or high or datetime.now(UTC)
    return local_time_sql("c.started_at", filters.tz or UTC, low, max(low, high or low), params, reader.dialect)


def label(value: Any) -> str:
    return "-" if value is None else str(value)


def _pct(part: float | None, whole: float | None) -> float | None:
    return round(100.0 * (part or 0) / whole, 1) if whole else None


def _title(by: str) -> str:
    return "Flow@version" if by == "version" else by.capitalize()


def _spans(rows: list[dict[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    """Each row's first and last call start as times in the report's zone."""
    for row in rows:
        row["first"] = parse_stored(row["first_at"]).astimezone(filters.tz) if row["first_at"] else None
        row["last"] = parse_stored(row["last_at"]).astimezone(filters.tz) if row["last_at"] else None
    return rows


def _order(rows: list[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Days and hours (``00`` to ``23``) in time order; versions by flow,
    then by their first call (so a flow's versions read in the order they
    ran); anything else by calls, most first."""
    if by == "version":
        return sorted(rows, key=lambda r: (label(r["key"]).rsplit("@", 1)[0], r["first_at"] or "", label(r["key"])))
    if by in ("day", "hour"):
        return sorted(rows, key=lambda r: label(r["key"]))
    return sorted(rows, key=lambda r: (-r["calls"], label(r["key"])))


def _check_group(by: str, allowed: Sequence[str]) -> None:
    if by not in allowed:
        raise ReportError(f"cannot group by {by!r}; choose one of {', '.join(allowed)}")
