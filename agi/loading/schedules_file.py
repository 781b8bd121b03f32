"""Schedules files: YAML files in the flows folder whose top level is
``version: 1`` and ``schedules:`` (instead of a flow's ``steps:``).

Each file goes through the same pipeline as a flow: YAML with line marks ->
JSON Schema -> parsed hours, dates, timezone and holiday calendar -> frozen
``Schedule`` objects. Every problem is reported with its file and line.
"""
from __future__ import annotations

from typing import Any, Iterable, Protocol

from jsonschema import Draft202012Validator

from agi.loading.yamlio import MarkedMap
from agi.hours.model import (CLOSURE, RESERVED_OUTCOMES, WEEKDAY_NAMES, Closure, DateSpan,
                                HolidayCalendar, Schedule, SpecialHours, TimeRange, calendar_problems,
                                default_language)
from agi.hours.spec import find_overlap, parse_days, parse_range, parse_span
from agi.yamlschema import obj
from agi.zones import ZONE_ERRORS, named_zone

SCHEDULE_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]*$"}
OUTCOME_LABEL = {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"}
_TEXT = {"type": "string", "minLength": 1}
_RANGES = {"type": ["string", "array"], "items": {"type": "string"}}


def _either(short: dict[str, Any], long: dict[str, Any]) -> dict[str, Any]:
    """A value written short (text or list) or long (a mapping); errors are
    reported against the form used, never as an unhelpful ``oneOf``."""
    return {"if": {"type": "object"}, "then": long, "else": short}


SCHEDULES_FILE_SCHEMA: dict[str, Any] = obj({
    "version": {"const": 1},
    "description": {"type": "string"},
    "schedules": {"type": "object", "minProperties": 1, "propertyNames": SCHEDULE_NAME,
                  "additionalProperties": {"type": "object"}},
}, ("version", "schedules"))

SCHEDULE_SCHEMA: dict[str, Any] = obj({
    "description": {"type": "string"},
    "timezone": _TEXT,
    "hours": {"type": "object", "additionalProperties": _RANGES},
    "holidays": obj({
        "country": _TEXT,
        "subdiv": _TEXT,
        "language": _TEXT,
        "extra": {"type": "object", "additionalProperties": _TEXT},
    }),
    "exceptions": {"type": "object", "additionalProperties": _either(
        _RANGES, obj({"hours": _RANGES, "name": {"type": "string"}}, ("hours",)))},
    "closures": {"type": "object", "additionalProperties": _either(
        OUTCOME_LABEL, obj({"outcome": OUTCOME_LABEL, "name": {"type": "string"}}))},
}, ("timezone", "hours"))

_FILE_VALIDATOR = Draft202012Validator(SCHEDULES_FILE_SCHEMA)
_SCHEDULE_VALIDATOR = Draft202012Validator(SCHEDULE_SCHEMA)


class ErrorSink(Protocol):
    """Where problems go; the flow loader's collector, one per file."""

    def add(self, path: Iterable[Any], message: str) -> None: ...

    def schema(self, validator: Draft202012Validator, value: Any, path: list[Any], prefix: str) -> bool: ...


def build_schedules(document: MarkedMap, source: str, errors: ErrorSink) -> dict[str, Schedule]:
    """Every valid schedule of one schedules file, by name."""
    if not errors.schema(_FILE_VALIDATOR, document, [], ""):
        return {}
    found = {}
    for name, raw in document["schedules"].items():
        schedule = _build_schedule(name, raw, source, errors)
        if schedule is not None:
            found[name] = schedule
    return found


class _Builder:
    """Parses one schedule, reporting each bad value at its own line."""

    def __init__(self, name: str, errors: ErrorSink) -> None:
        self.where = ["schedules", name]
        self.prefix = f"schedule '{name}': "
        self.errors = errors
        self.ok = True

    def problem(self, path: list[Any], message: str) -> None:
        self.errors.add(self.where + path, self.prefix + message)
        self.ok = False

    def ranges(self, value: Any, path: list[Any]) -> tuple[TimeRange, ...]:
        items = list(value) if isinstance(value, list) else [value]
        parsed = []
        for index, text in enumerate(items):
            try:
                parsed.append(parse_range(text))
            except ValueError as exc:
                self.problem(path + ([index] if isinstance(value, list) else []), str(exc))
        return tuple(sorted(parsed))

    def span(self, text: str, path: list[Any]) -> DateSpan | None:
        try:
            return parse_span(text)
        except ValueError as exc:
            self.problem(path, str(exc))
            return None


def _build_schedule(name: str, raw: Any, source: str, errors: ErrorSink) -> Schedule | None:
    builder = _Builder(name, errors)
    if not errors.schema(_SCHEDULE_VALIDATOR, raw, builder.where, builder.prefix):
        return None
    try:
        named_zone(raw["timezone"])
    except ZONE_ERRORS:
        builder.problem(["timezone"], f"unknown timezone '{raw['timezone']}' (use an IANA name such as Europe/Madrid)")
    weekly = _weekly(raw["hours"], builder)
    calendar = _calendar(raw.get("holidays"), builder)
    exceptions = _exceptions(raw.get("exceptions") or MarkedMap(), builder)
    closures = _closures(raw.get("closures") or MarkedMap(), builder)
    _check_dated_overlaps([*closures, *exceptions], builder)
    if not builder.ok:
        return None
    return Schedule(name=name, timezone=raw["timezone"], weekly=weekly, holidays=calendar,
                    exceptions=exceptions, closures=closures, description=raw.get("description", ""),
                    source=source, line=getattr(raw, "line", 0))


def _weekly(hours: MarkedMap, builder: _Builder) -> tuple[tuple[TimeRange, ...], ...]:
    days: list[list[TimeRange]] = [[] for _ in range(7)]
    for key, value in hours.items():
        try:
            numbers = parse_days(key)
        except ValueError as exc:
            builder.problem(["hours", key], str(exc))
            continue
        ranges = builder.ranges(value, ["hours", key])
        for number in numbers:
            days[number].extend(ranges)
            overlap = find_overlap(days[number])
            if overlap:
                builder.problem(["hours", key], f"hours: {overlap[0]} and {overlap[1]} overlap on "
                                                f"{WEEKDAY_NAMES[number]}")
                days[number] = sorted(set(days[number]))
                break
    return tuple(tuple(sorted(day)) for day in days)


def _calendar(raw: Any, builder: _Builder) -> HolidayCalendar | None:
    if not raw:
        return None
    extra = []
    for key, name in (raw.get("extra") or {}).items():
        span = builder.span(key, ["holidays", "extra", key])
        if span is not None:
            extra.append((span, name))
    country, subdiv, language = raw.get("country"), raw.get("subdiv"), raw.get("language")
    if country is None:
        if subdiv is not None or language is not None:
            builder.problem(["holidays"], "holidays: subdiv and language need a country")
        return HolidayCalendar(extra=tuple(extra))
    for key, message in calendar_problems(country, subdiv, language):
        builder.problem(["holidays", key], f"holidays: {message}")
    if not builder.ok:
        return None
    return HolidayCalendar(country, subdiv, language or default_language(country), tuple(extra))


def _exceptions(raw: MarkedMap, builder: _Builder) -> tuple[SpecialHours, ...]:
    found = []
    for key, value in raw.items():
        path = ["exceptions", key]
        span = builder.span(key, path)
        full = isinstance(value, dict)
        ranges = builder.ranges(value["hours"] if full else value, path + (["hours"] if full else []))
        overlap = find_overlap(list(ranges))
        if overlap:
            builder.problem(path, f"exceptions: {overlap[0]} and {overlap[1]} overlap")
        if span is not None:
            found.append(SpecialHours(span, ranges, value.get("name", "") if full else "",
                                      raw.key_lines.get(key, 0)))
    return tuple(found)


def _closures(raw: MarkedMap, builder: _Builder) -> tuple[Closure, ...]:
    found = []
    for key, value in raw.items():
        path = ["closures", key]
        span = builder.span(key, path)
        outcome = value if isinstance(value, str) else value.get("outcome", CLOSURE)
        if outcome in RESERVED_OUTCOMES:
            builder.problem(path, f"closures: '{outcome}' cannot be a closure's outcome; use closed, "
                                  f"closure or a label of your own such as inventory")
        if span is not None:
            name = value.get("name", "") if isinstance(value, dict) else ""
            found.append(Closure(span, outcome, name, raw.key_lines.get(key, 0)))
    return tuple(found)


def _check_dated_overlaps(rules: list[Closure | SpecialHours], builder: _Builder) -> None:
    """Two closures or exceptions that cover the same date (both full dates,
    or both yearly) are ambiguous."""
    for index, rule in enumerate(rules):
        for earlier in rules[:index]:
            if rule.span.overlaps(earlier.span):
                section = "closures" if isinstance(rule, Closure) else "exceptions"
                builder.problem([section, rule.span.text],
                                f"{section}: '{rule.span}' overlaps '{earlier.span}' (line {earlier.line})")
                break
