"""How one value of each column kind is written, per format."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from agi.reports.model import COUNT, PERCENT, SECONDS, TIME, Column
from agi.reports.timerange import wall_time

MISSING = "-"


def human(column: Column, value: Any) -> str:
    """For people (terminal table, HTML): ``1:05:09``, ``45.5%``, ``1,234``,
    ``2025-03-10 09:30``; ``-`` when there is no value."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else ""
    if column.kind == SECONDS:
        return clock(float(value))
    if column.kind == PERCENT:
        return f"{float(value):.1f}%"
    if column.kind == COUNT:
        return f"{int(value):,}"
    if column.kind == TIME and isinstance(value, datetime):
        return wall_time(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def clock(seconds: float) -> str:
    """Seconds as ``m:ss`` under an hour, else ``h:mm:ss``; a negative
    duration (a clock set back) with its sign: ``-0:05``."""
    sign, hours, minutes, secs = _parts(seconds)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}" if hours else f"{sign}{minutes}:{secs:02d}"


def hms(seconds: float) -> str:
    """Seconds as ``h:mm:ss``, the hours always written: ``0:05:46``, ``26:49:16``, ``-0:00:05``."""
    sign, hours, minutes, secs = _parts(seconds)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def _parts(seconds: float) -> tuple[str, int, int, int]:
    """The sign, whole hours, minutes and seconds of the value machines are
    given (to the millisecond), a half second to even: 7.49967 s is 7.5 s
    in JSON and CSV, so ``0:08``, as 60.5 s is ``1:00``; never ``0:07``
    beside that 7.5."""
    whole = int(round(round(seconds, 3)))
    hours, rest = divmod(abs(whole), 3600)
    return ("-" if whole < 0 else "", hours, *divmod(rest, 60))


def plain_of(kind: str) -> Callable[[Any], Any] | None:
    """How a value of one column kind is written for machines (JSON):
    numbers stay numbers (seconds rounded to the millisecond), times become
    ISO 8601 with their offset, None stays None. Chosen once for a whole
    column; None when its values are written as they are."""
    return _PLAIN.get(kind)


def _plain_time(value: Any) -> Any:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value


def _plain_rounded(value: Any) -> Any:
    return round(float(value), 3) if isinstance(value, (int, float)) else value


def _plain_count(value: Any) -> Any:
    if value.__class__ is int:
        return value
    return int(value) if isinstance(value, (int, float)) else value


_PLAIN: dict[str, Callable[[Any], Any]] = {TIME: _plain_time, SECONDS: _plain_rounded, PERCENT: _plain_rounded,
                                           COUNT: _plain_count}


def numeric(column: Column) -> bool:
    return column.kind in (COUNT, SECONDS, PERCENT)
