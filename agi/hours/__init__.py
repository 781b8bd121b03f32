"""Schedules: opening hours with holidays, dated exceptions and closures,
and manual overrides, in an IANA timezone. Pure domain logic: no Twisted,
no click, no YAML; the flow loader builds these from schedules files.

The names below are loaded on first use, so that a module that only needs
``agi.hours.moments`` (the report filters) does not load the holiday
calendars."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agi.hours.evaluate import DEFAULT_HORIZON, changes, state_at
    from agi.hours.model import (CLOSED, CLOSURE, HOLIDAY, OPEN, Closure, DateSpan, HolidayCalendar,
                                 Schedule, ScheduleState, SpecialHours, TimeRange)

#: Each exported name and the module that defines it.
_HOMES = {
    **dict.fromkeys(("DEFAULT_HORIZON", "changes", "state_at"), "agi.hours.evaluate"),
    **dict.fromkeys(("CLOSED", "CLOSURE", "HOLIDAY", "OPEN", "Closure", "DateSpan", "HolidayCalendar",
                     "Schedule", "ScheduleState", "SpecialHours", "TimeRange"), "agi.hours.model"),
}

__all__ = [
    "CLOSED", "CLOSURE", "DEFAULT_HORIZON", "HOLIDAY", "OPEN", "Closure", "DateSpan",
    "HolidayCalendar", "Schedule", "ScheduleState", "SpecialHours", "TimeRange", "changes",
    "state_at",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'agi.hours' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
