"""Schedules: opening hours with holidays, dated exceptions and closures,
and manual overrides, in an IANA timezone. Pure domain logic: no Twisted,
no click, no YAML; the flow loader builds these from schedules files."""
from __future__ import annotations

from agi.hours.evaluate import DEFAULT_HORIZON, changes, state_at
from agi.hours.model import (CLOSED, CLOSURE, HOLIDAY, OPEN, Closure, DateSpan, HolidayCalendar,
                                Schedule, ScheduleState, SpecialHours, TimeRange)

__all__ = [
    "CLOSED", "CLOSURE", "DEFAULT_HORIZON", "HOLIDAY", "OPEN", "Closure", "DateSpan",
    "HolidayCalendar", "Schedule", "ScheduleState", "SpecialHours", "TimeRange", "changes",
    "state_at",
]
