"""Reports per caller: first-call resolution (``fcr``) and ``tracking``.

Both count inbound calls, and tell callers apart by their number in E.164:
``+34600111222``, ``0034600111222`` and ``600111222`` are one caller
(``calls.caller_e164``, or ``caller`` normalised in the configured region
for rows written before that column existed). A caller ID that is no
phone number is a caller as written; a withheld one (empty, ``anonymous``,
...) is no caller: those calls are left out, as they cannot be told apart.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Callable, Iterable

from agi.reports import queries as q
from agi.reports.db import CdrReader, ReportError
from agi.reports.model import COUNT, PERCENT, SECONDS, TEXT, TIME, Chart, Column, Filters, Report, largest, shrinks
from agi.reports.overview import label
from agi.reports.percent import percent
from agi.reports.stored_text import texts
from agi.reports.timerange import parse_stored, sql_time

FCR_GROUPS = q.FCR_GROUPS
_COUNTS = ("callers", "answered", "resolved", "repeated", "open", "unreached", "repeat_calls")

Identity = Callable[[str | None, str | None], str | None]


def caller_identity(region: str) -> Identity:
    """``identity(caller, caller_e164)``: who called, as reports group
    callers (see the module's docstring); None for a withheld caller ID.
    Each spelling is worked out once."""
    # phone numbers' data, loaded by the reports per caller only
    from agi.lists.numbers import normaliser
    from agi.phone import is_withheld
    number = normaliser(region).number
    known: dict[tuple[str | None, str | None], str | None] = {}

    def identity(caller: str | None, e164: str | None) -> str | None:
        key = (caller, e164)
        if key not in known:
            known[key] = e164 or _normalised(caller, number, is_withheld)
        return known[key]
    return identity


def _normalised(caller: str | None, number: Callable[[str], str], withheld: Callable[[str], bool]) -> str | None:
    if caller is None or withheld(caller):
        return None
    try:
        return number(caller)
    except ValueError:
        return caller


@dataclass(slots=True)
class FirstCall:
    """A caller's first call in the period, and their calls within the window after it."""

    started_at: str
    flow: str | None
    #: None when the report does not group by outcome (it is not read then).
    outcome: str | None
    answered: bool
    repeats: int = 0
    #: The end of the window (CDR UTC text), worked out at the caller's next call.
    ends: str | None = None


def window_end(started_at: str, window: timedelta) -> str:
    """The moment ``window`` after a CDR timestamp, as the CDR writes it
    (milliseconds, cut): a call started within the window when its
    ``started_at`` is at most this text."""
    if started_at.endswith("Z"):  # as the CDR writes it: no zone to work out
        try:
            return (datetime.fromisoformat(started_at[:-1]) + window).isoformat(timespec="milliseconds") + "Z"
        except ValueError:
            pass  # no time (written by hand, 2025-02-30...): parse_stored says which value
    return sql_time(parse_stored(started_at) + window)


def first_calls(calls: Iterable[tuple[Any, ...]], identity: Identity, window: timedelta,
                since: str, until: str) -> list[FirstCall]:
    """Each caller's first call that started in [since, until) (CDR UTC
    text), from (caller_e164, caller, started_at, flow, outcome, answered)
    rows in time order (the start, then the call id), with the caller's
    later calls that started within ``window`` of it (its end included)."""
    found: dict[str, FirstCall] = {}
    for e164, caller, started_at, flow, outcome, answered in (texts(call, (0, 1, 3, 4)) for call in calls):
        who = e164 or identity(caller, None)
        if who is None:
            continue
        first = found.get(who)
        if first is None:
            if since <= started_at < until:
                found[who] = FirstCall(started_at, flow, outcome, bool(answered))
            continue
        if first.ends is None:
            first.ends = window_end(first.started_at, window)
        if started_at <= first.ends:
            first.repeats += 1
    return list(found.values())


#: The longest FCR window, in hours (366 days, as a history step's window).
MAX_FCR_WINDOW_HOURS = 366 * 24


def fcr(reader: CdrReader, filters: Filters, now: datetime, *, window_hours: float = 24.0,
        by: str = "flow", region: str = "ES", charts: bool = False) -> Report:
    """First-call resolution: of the callers whose first call in the
    period was answered, the share who did not call again within
    ``window_hours`` of it."""
    if by not in FCR_GROUPS:
        raise ReportError(f"cannot group fcr by {by!r}; choose one of {', '.join(FCR_GROUPS)}")
    if not 0 < window_hours <= MAX_FCR_WINDOW_HOURS:  # NaN too
        raise ReportError(f"the FCR window must be more than 0 hours and at most {MAX_FCR_WINDOW_HOURS} "
                          f"({MAX_FCR_WINDOW_HOURS // 24} days)")
    window = timedelta(hours=window_hours)
    # look ahead one window past the period for the calls again of its last callers
    wide = replace(filters, until=filters.until + window if filters.until else None)
    clause, params = q.where(wide, dialect=reader.dialect)
    outcome = q.OUTCOME if by == "outcome" else "NULL"
    rows = reader.tuples(reader.sql(q.FCR_CALLS, where=clause, outcome=outcome), params)
    firsts = first_calls(rows, caller_identity(region), window,
                         sql_time(filters.since) if filters.since else "", sql_time(filters.until)
                         if filters.until else "9999")
    # a window is over when it ended at or before now
    closed_before = sql_time(now - window)
    groups: dict[Any, dict[str, Any]] = {}
    for first in firsts:
        key = {"flow": first.flow, "outcome": first.outcome}.get(by) if by != "day" \
            else reader.local_day(first.started_at)
        row = groups.get(key)
        if row is None:
            row = groups[key] = {"key": key, **dict.fromkeys(_COUNTS, 0)}
        row["callers"] += 1
        if not first.answered:
            row["unreached"] += 1
            continue
        row["answered"] += 1
        row["repeat_calls"] += first.repeats
        closed = first.started_at <= closed_before
        row["repeated" if first.repeats else "resolved" if closed else "open"] += 1
    return _fcr_report(list(groups.values()), filters, now, window_hours, by, charts)


def _fcr_report(rows: list[dict[str, Any]], filters: Filters, now: datetime, window_hours: float,
                by: str, charts: bool) -> Report:
    for row in rows:
        row["fcr_pct"] = _fcr_pct(row)
    rows.sort(key=lambda r: label(r["key"]) if by == "day" else (-r["callers"], label(r["key"])))
    columns = (Column("key", by.capitalize(), TEXT, shrink=shrinks(by)), Column("callers", "Callers", COUNT),
               Column("answered", "Answered", COUNT), Column("resolved", "Resolved", COUNT),
               Column("repeated", "Repeated", COUNT), Column("open", "Open", COUNT),
               Column("unreached", "Unreached", COUNT), Column("fcr_pct", "FCR", PERCENT),
               Column("repeat_calls", "Repeats", COUNT))
    totals: dict[str, Any] = {"key": "total", **{k: sum(r[k] for r in rows) for k in _COUNTS}}
    totals["fcr_pct"] = _fcr_pct(totals)
    title, shown = (f"FCR by {by}", rows) if by == "day" else \
        largest(f"FCR by {by}", rows, lambda r: r["callers"], "callers")
    chart = Chart(title, [label(r["key"]) for r in shown], [r["fcr_pct"] for r in shown], unit="%",
                  outcomes=by == "outcome")
    return Report("fcr", f"First-call resolution ({window_hours:g} h window) by {by}", columns, rows,
                  filters, now, {"window_hours": window_hours, "by": by}, totals,
                  [chart] if charts else ())


def _fcr_pct(row: dict[str, Any]) -> float | None:
    decided = row["resolved"] + row["repeated"]
    return percent(row["resolved"], decided)


TRACKING_COLUMNS = (
    Column("caller", "Caller"), Column("returning", "Returning"), Column("calls", "Calls", COUNT),
    Column("answered", "Answ", COUNT), Column("first_call", "First call", TIME, table=False),
    Column("last_call", "Last call", TIME), Column("wait_s", "Wait", SECONDS),
    Column("max_wait_s", "Max wait", SECONDS, table=False), Column("talk_s", "Talk", SECONDS),
    Column("last_outcome", "Last outcome", shrink=True), Column("last_flow", "Last flow", shrink=True, table=False),
)
#: Added up over a caller's spellings (None when none is known).
_ADDED = ("calls", "answered", "wait_s", "talk_s")


def tracking(reader: CdrReader, filters: Filters, now: datetime, *, min_calls: int = 1,
             limit: int | None = None, region: str = "ES", charts: bool = False) -> Report:
    """Per caller: new or returning, attempts, answered, waits, talk time
    and the last outcome; the callers with most calls first."""
    identity = caller_identity(region)
    clause, params = q.where(filters, dialect=reader.dialect)
    callers: dict[str, dict[str, Any]] = {}
    for row in reader.tuples(reader.sql(q.TRACKING, where=clause), {**params, "sep": q.TRACKING_SEP}):
        row = texts(row, (0, 1))
        who = row[0] or identity(row[1], None)
        if who is None:
            continue
        figures = _figures(who, row)
        if who in callers:
            _merge(callers[who], figures)
        else:
            callers[who] = figures
    returning = _called_before(reader, filters, identity)
    rows = sorted((c for c in callers.values() if c["calls"] >= min_calls), key=itemgetter("caller"))
    # most calls, then the latest last call; stable (reverse too): equal ones stay by caller
    rows.sort(key=itemgetter("calls", "last_at"), reverse=True)
    returned = sum(1 for r in rows if r["caller"] in returning)  # of every caller: --limit cuts the table only
    new = len(rows) - returned
    rows = rows[:limit]
    tz = filters.tz
    for item in rows:
        del item["last_key"]
        item["returning"] = item["caller"] in returning
        item["first_call"] = parse_stored(item["first_at"]).astimezone(tz)
        item["last_call"] = parse_stored(item["last_at"]).astimezone(tz)
    top = rows[:15]
    chart = [Chart("Callers with most calls", [r["caller"] for r in top], [r["calls"] for r in top]),
             Chart("New and returning callers", ["new", "returning"], [new, returned], unit="callers")]
    return Report("tracking", "Callers", TRACKING_COLUMNS, rows, filters, now,
                  {"min_calls": min_calls, "limit": limit}, charts=chart if charts else ())


def _figures(who: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """One caller key's row of ``queries.TRACKING`` as the caller's figures."""
    _, _, calls, answered, first_at, last_call, wait_ms, max_wait_s, talk_ms = row
    last_at, call_id, outcome, flow = last_call.split(q.TRACKING_SEP, 3)
    return {"caller": who, "calls": calls, "answered": answered, "wait_s": _seconds(wait_ms),
            "talk_s": _seconds(talk_ms or 0),  # 0 when none is known, as inbound's DUR
            "first_at": first_at, "last_at": last_at, "last_outcome": outcome, "last_flow": flow or None,
            "max_wait_s": max_wait_s, "last_key": (last_at, call_id)}


def _seconds(milliseconds: Any) -> float | None:
    """A sum of whole milliseconds (each call's seconds rounded to the
    millisecond, as every report sums them) in seconds."""
    return None if milliseconds is None else _ms(float(milliseconds) / 1000)


def _ms(seconds: float | None) -> float | None:
    """A sum of seconds to the millisecond, the precision of the CDR: the
    same whatever order the database added the calls in (``1:00`` for waits
    of 38.1, 0.1 and 22.3 s, never ``1:01`` for 60.50000000000001)."""
    return None if seconds is None else round(seconds, 3)


def _merge(into: dict[str, Any], row: dict[str, Any]) -> None:
    """Add the figures of another of a caller's keys (an old row's
    spelling) to theirs: the last call is the latest start, then the
    greatest call id, whichever key it came from."""
    for key in _ADDED:
        known = [v for v in (into[key], row[key]) if v is not None]
        total = sum(known) if known else None
        into[key] = _ms(total) if key.endswith("_s") else total
    into["first_at"] = min(into["first_at"], row["first_at"])
    if row["last_key"] > into["last_key"]:
        into.update(last_at=row["last_at"], last_outcome=row["last_outcome"], last_flow=row["last_flow"],
                    last_key=row["last_key"])
    maxima = [w for w in (into["max_wait_s"], row["max_wait_s"]) if w is not None]
    into["max_wait_s"] = max(maxima, default=None)


def _called_before(reader: CdrReader, filters: Filters, identity: Identity) -> set[str]:
    """The callers with a call (of the selected flows) that started before the period."""
    if filters.since is None:
        return set()
    clause, params = q.where(replace(filters, since=None, until=None), dialect=reader.dialect)
    params["before"] = sql_time(filters.since)
    return {who for e164, caller in (texts(row, (0, 1)) for row in reader.tuples(reader.sql(q.CALLED_BEFORE,
                                                                                          where=clause), params))
            if (who := e164 or identity(caller, None)) is not None}
