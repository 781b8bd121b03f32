"""Is a schedule open at a moment, why, and when does that change.

Precedence, highest first: a manual override in force > a dated closure or
exception (a full date beats a yearly ``MM-DD`` one) > a public or extra
holiday > the weekly hours.

Hours are local wall-clock times in the schedule's timezone. Each range
becomes an interval of real instants, and a moment is open when it falls
inside one, so daylight-saving changes never make a state flicker:

- A time that does not exist (the skipped hour in spring) means the moment
  the clock jumps: ``02:30-04:00`` opens at 03:00 on that day in Madrid, and
  ``02:00-02:30`` does not open at all.
- A time that happens twice (the repeated hour in autumn) means its first
  occurrence: ``01:00-02:30`` closes at the first 02:30 and stays closed
  while the clock shows 02:00-02:30 again; ``00:00-03:00`` stays open
  through both passes (four real hours).
- An overnight range (``22:00-06:00``) belongs to the day it starts: its
  day's holiday, exception or closure decides, whatever the next day is.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from agi.hours.moments import instant
from agi.hours.model import (CLOSED, OPEN, WEEKDAY_NAMES, Closure, Schedule, ScheduleState,
                                SpecialHours, TimeRange, clock_text, ranges_text)
from agi.services import Override

UTC = timezone.utc
#: How far ahead ``state_at`` looks for the next change by default.
DEFAULT_HORIZON = timedelta(days=8)
#: The smallest step of time: changes found before an override starts end
#: just before it.
_INSTANT = timedelta(microseconds=1)
_PLAN_CACHE_SIZE = 800


@dataclass(frozen=True)
class DayPlan:
    """What governs one local date: the rule, its open intervals as UTC
    instants, and the outcome outside them."""

    day: date
    rule: str
    closed_outcome: str
    reason: str
    intervals: tuple[tuple[datetime, datetime, TimeRange], ...]
    #: The day's first instant (its local midnight), in UTC.
    start: datetime


def state_at(schedule: Schedule, moment: datetime, override: Override | None = None,
             horizon: timedelta = DEFAULT_HORIZON) -> ScheduleState:
    """The schedule's state at ``moment`` (an aware datetime), with the
    next change within ``horizon``. An override counts only inside its
    window (from its ``start`` until its ``until``); before its start, the
    start is a change like any other."""
    if moment.tzinfo is None:
        raise ValueError("state_at needs an aware datetime (with a timezone)")
    at = moment.astimezone(UTC)
    if override is not None and override.in_force(at):
        return _overridden(schedule, override, horizon)
    outcome, rule, reason = _decide(schedule, at)
    limit = at + horizon
    starts = override.start.astimezone(UTC) if override and override.start and at < override.start else None
    change = _next_change(schedule, at, outcome, min(limit, starts - _INSTANT) if starts else limit)
    if change is None and override is not None and starts is not None and starts <= limit:
        change = _change_at_start(schedule, override, outcome, starts, limit)
    zone = ZoneInfo(schedule.timezone)
    return ScheduleState(outcome, reason, rule,
                         change[0].astimezone(zone) if change else None, change[1] if change else None)


def _change_at_start(schedule: Schedule, override: Override, outcome: str, starts: datetime,
                     limit: datetime) -> tuple[datetime, str] | None:
    """The next change when nothing changes before an override starts: its
    start, unless the override keeps ``outcome``; then its own next change."""
    then = _overridden(schedule, override, limit - starts)
    if then.outcome != outcome:
        return starts, then.outcome
    if then.next_change is not None and then.next_outcome is not None and then.next_change <= limit:
        return then.next_change, then.next_outcome
    return None


def changes(schedule: Schedule, start: datetime, end: datetime,
            override: Override | None = None) -> list[tuple[datetime, ScheduleState]]:
    """Every change of outcome after ``start`` up to ``end``, in order: the
    moment and the state from then on."""
    found: list[tuple[datetime, ScheduleState]] = []
    state = state_at(schedule, start, override, horizon=end - start)
    while state.next_change is not None and state.next_change <= end:
        moment = state.next_change
        state = state_at(schedule, moment, override, horizon=max(end - moment, timedelta(0)))
        found.append((moment, state))
    return found


def _overridden(schedule: Schedule, override: Override, horizon: timedelta) -> ScheduleState:
    zone = ZoneInfo(schedule.timezone)
    until = override.until.astimezone(zone)
    reason = f"manual override: {override.state} until {until:%Y-%m-%d %H:%M %Z}"
    reason += f" ({override.reason})" if override.reason else ""
    after = state_at(schedule, until, None, horizon)
    if after.outcome != override.state:
        return ScheduleState(override.state, reason, "override", until, after.outcome, override)
    return ScheduleState(override.state, reason, "override", after.next_change, after.next_outcome, override)


def _decide(schedule: Schedule, at: datetime) -> tuple[str, str, str]:
    """(outcome, rule, reason) at the UTC instant ``at``, without override."""
    plan, hours = _open_range(schedule, at)
    if hours is not None:
        overnight = " (overnight)" if plan.day != at.astimezone(ZoneInfo(schedule.timezone)).date() else ""
        return OPEN, plan.rule, f"{plan.reason} {hours}{overnight}"
    return plan.closed_outcome, plan.rule, _closed_reason(plan)


def _outcome(schedule: Schedule, at: datetime) -> str:
    plan, hours = _open_range(schedule, at)
    return OPEN if hours is not None else plan.closed_outcome


def _open_range(schedule: Schedule, at: datetime) -> tuple[DayPlan, TimeRange | None]:
    """The range ``at`` falls in (an overnight one of the day before
    included) with its day's plan; else today's plan and None."""
    today = at.astimezone(ZoneInfo(schedule.timezone)).date()
    before = day_plan(schedule, today - timedelta(days=1))
    for start, end, hours in before.intervals:
        if hours.overnight and start <= at < end:
            return before, hours
    plan = day_plan(schedule, today)
    for start, end, hours in plan.intervals:
        if start <= at < end:
            return plan, hours
    return plan, None


def _closed_reason(plan: DayPlan) -> str:
    if plan.rule in ("closure", "holiday"):
        return plan.reason
    hours = tuple(h for _, _, h in plan.intervals)
    if hours:
        return f"outside {plan.reason} {ranges_text(hours)}"
    if plan.rule == "weekly":
        return f"no {plan.reason}"
    return f"{plan.reason}: closed all day"


def _next_change(schedule: Schedule, at: datetime, outcome: str,
                 until: datetime) -> tuple[datetime, str] | None:
    """The first instant after ``at`` (up to ``until``) whose outcome is not
    ``outcome``. Candidates are midnights and range edges, visited in order
    one local day at a time."""
    zone = ZoneInfo(schedule.timezone)
    day = at.astimezone(zone).date() - timedelta(days=1)
    last_day = until.astimezone(zone).date()
    pending: list[datetime] = []
    while day <= last_day:
        plan = day_plan(schedule, day)
        pending.extend([plan.start] + [edge for s, e, _ in plan.intervals for edge in (s, e)])
        heapq.heapify(pending)
        day += timedelta(days=1)
        settled = day_plan(schedule, day).start
        while pending and pending[0] < settled:
            candidate = heapq.heappop(pending)
            if at < candidate <= until:
                found = _outcome(schedule, candidate)
                if found != outcome:
                    return candidate, found
    return None


def day_plan(schedule: Schedule, day: date) -> DayPlan:
    """The plan of one local date, worked out once per schedule."""
    plan = schedule._plans.get(day)
    if plan is None:
        if len(schedule._plans) >= _PLAN_CACHE_SIZE:
            schedule._plans.clear()
        plan = schedule._plans[day] = _make_plan(schedule, day)
    return plan


def _make_plan(schedule: Schedule, day: date) -> DayPlan:
    zone = ZoneInfo(schedule.timezone)
    start = instant(day, 0, zone)
    dated = _dated_rule(schedule, day)
    if isinstance(dated, Closure):
        reason = f"closure on {dated.span}" + (f": {dated.name}" if dated.name else "")
        return DayPlan(day, "closure", dated.outcome, reason, (), start)
    if isinstance(dated, SpecialHours):
        reason = f"special hours on {dated.span}" + (f" ({dated.name})" if dated.name else "")
        return DayPlan(day, "exception", CLOSED, reason, _intervals(day, dated.ranges, zone), start)
    holiday = schedule.holidays.name_of(day) if schedule.holidays else None
    if holiday is not None:
        assert schedule.holidays is not None
        return DayPlan(day, "holiday", "holiday", f"holiday: {holiday} ({schedule.holidays.label()})", (), start)
    weekly = schedule.weekly[day.weekday()]
    return DayPlan(day, "weekly", CLOSED, f"{WEEKDAY_NAMES[day.weekday()]} hours",
                   _intervals(day, weekly, zone), start)


def _dated_rule(schedule: Schedule, day: date) -> Closure | SpecialHours | None:
    """The closure or exception for ``day``: a full date beats a yearly one."""
    rules: tuple[Closure | SpecialHours, ...] = (*schedule.closures, *schedule.exceptions)
    found = [rule for rule in rules if day in rule.span]
    found.sort(key=lambda rule: rule.span.yearly)
    return found[0] if found else None


def _intervals(day: date, ranges: tuple[TimeRange, ...],
               zone: ZoneInfo) -> tuple[tuple[datetime, datetime, TimeRange], ...]:
    result = []
    for hours in ranges:
        start = instant(day, hours.start, zone)
        end = instant(day + timedelta(days=1) if hours.overnight else day, hours.end, zone)
        if start < end:
            result.append((start, end, hours))
    return tuple(result)


def describe_time(moment: datetime, zone: ZoneInfo) -> str:
    """``Mon 2025-03-10 14:00 CET``: a moment as a person reads it."""
    local = moment.astimezone(zone)
    return f"{local:%a %Y-%m-%d} {clock_text(local.hour * 60 + local.minute)} {local:%Z}"
