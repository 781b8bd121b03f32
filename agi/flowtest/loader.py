"""Loading ``*.tests.yaml`` files: YAML with line marks -> JSON Schema ->
checks against the loaded flows -> frozen cases. Like flows, every error
of every file is reported at once as ``file:line: message``."""
from __future__ import annotations

import difflib
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator

from agi.loading.files import TEST_FILE_SUFFIXES
from agi.loading.loader import _Errors
from agi.engine.model import FlowSet
from agi.loading.files import (FileTooLarge, NotUtf8, folder_entries, is_schedules_document, listed_entry,
                               read_capped_text, resolved)
from agi.loading.yamlio import DocumentError, MarkedMap, SourceError, load_yaml
from agi.flowtest.memory import UNAVAILABLE, CaseCall, CaseOverride
from agi.hours import moments
from agi.lists.numbers import normaliser
from agi.flowtest.model import Case, Expectation, Inputs
from agi.flowtest.schema import CASE_FILE_SCHEMA, CASE_SCHEMA, EXPECT, INPUTS
from agi.simulate import parse_dtmf
from agi.steps.base import node_of
from agi.vocabulary import CALL_COLUMNS, FLOW_END_STATUSES
from agi.yamlschema import FLOW_NAME, obj

_FILE_VALIDATOR = Draft202012Validator(CASE_FILE_SCHEMA)
_CASE_VALIDATOR = Draft202012Validator(CASE_SCHEMA)
#: Each expectation on its own: a wrong one hides none of the others.
_EXPECT_VALIDATORS = {key: Draft202012Validator(schema) for key, schema in EXPECT.items()}
_DEFAULTS_VALIDATOR = Draft202012Validator(obj(INPUTS))
#: version, flow and cases as they must be, whatever else is wrong at the top.
_CASES_VALIDATOR = Draft202012Validator({**CASE_FILE_SCHEMA, "additionalProperties": True, "properties": {
    key: value for key, value in CASE_FILE_SCHEMA["properties"].items() if key in ("version", "flow", "cases")}})
_FLOW_NAME_VALIDATOR = Draft202012Validator(FLOW_NAME)
#: How a call can end in a test (``expect.status``).
STATUSES = FLOW_END_STATUSES


def find_case_files(paths: Iterable[str | Path]) -> list[Path]:
    """Folders -> the ``*.tests.yaml`` files inside them, sorted; files as
    given; each file once."""
    files: dict[Path, Path] = {}
    for path in map(Path, paths):
        found = sorted(p for p in folder_entries(path) if p.name.endswith(TEST_FILE_SUFFIXES) and listed_entry(p, path)) \
            if path.is_dir() else [path]
        for file in found:
            files.setdefault(resolved(file), file)
    return list(files.values())


def load_case_files(paths: Iterable[Path], flows: FlowSet, region: str) -> tuple[list[Case], list[SourceError]]:
    """Every case of every file; no case at all when any file has an error."""
    cases: list[Case] = []
    errors: list[SourceError] = []
    for path in paths:
        found, problems = load_case_file(path, flows, region)
        cases.extend(found)
        errors.extend(problems)
    return ([], sorted(errors)) if errors else (cases, [])


def load_case_file(path: str | Path, flows: FlowSet, region: str) -> tuple[list[Case], list[SourceError]]:
    """The cases of one file, checked against ``flows``."""
    file = str(path)
    try:
        document = load_yaml(read_capped_text(path))
    except NotUtf8 as exc:
        return [], [SourceError(file, exc.line, f"cannot read test file: {exc}")]
    except (OSError, FileTooLarge) as exc:  # the file is named once: no errno, no second name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [], [SourceError(file, 1, f"cannot read test file: {reason}")]
    except DocumentError as exc:
        return [], [SourceError(file, exc.line, exc.message)]
    errors = _Errors(file, document)
    if not isinstance(document, MarkedMap):
        errors.add([], "a test file must be a mapping with version, flow and cases")
        return [], errors.items
    if "cases" not in document and ("steps" in document or is_schedules_document(document)):
        kind = "a flow" if "steps" in document else "a schedules file"  # one line, not one per key of it
        errors.add([], f"{kind}, not a test file: a test file holds version, flow and cases, and is named "
                       "NAME.tests.yaml (docs/testing.md)")
        return [], errors.items
    if not errors.schema(_FILE_VALIDATOR, document, [], ""):
        if _CASES_VALIDATOR.is_valid(document):  # an error at the top hides none of the cases'
            _check_cases(file, document, flows, region, errors)
        return [], sorted(set(errors.items))
    cases = _check_cases(file, document, flows, region, errors)
    return (cases, []) if not errors.items else ([], sorted(set(errors.items)))


def _check_cases(file: str, document: MarkedMap, flows: FlowSet, region: str, errors: _Errors) -> list[Case]:
    """The file's cases, each checked; ``defaults`` only when they are valid."""
    _check_flow_name(document["flow"], flows, ["flow"], "", errors)
    defaults = document.get("defaults") or {}
    builder = _CaseBuilder(file, document, flows, region, errors,
                           defaults if _DEFAULTS_VALIDATOR.is_valid(defaults) else {})
    return [case for index in range(len(document["cases"])) if (case := builder.build(index)) is not None]


def _check_flow_name(name: str, flows: FlowSet, path: list[Any], prefix: str, errors: _Errors) -> bool:
    if name in flows.flows:
        return True
    known = ", ".join(sorted(flows.flows)) or "none"
    errors.add(path, f"{prefix}no flow named '{name}' among the loaded flows (known: {known})")
    return False


class _CaseBuilder:
    """Builds the cases of one file, adding every problem to ``errors``."""

    def __init__(self, file: str, document: MarkedMap, flows: FlowSet, region: str, errors: _Errors,
                 defaults: Mapping[str, Any]) -> None:
        self.file = file
        self.document = document
        self.flows = flows
        self.region = region
        self.errors = errors
        self.defaults = defaults
        self.names: dict[str, int] = {}
        #: The number lists some step of the loaded flows reads.
        self.lists_read = {name for flow in flows.flows.values() for step in flow.steps.values()
                           for name in node_of(step).list_references()}

    def build(self, index: int) -> Case | None:
        raw = self.document["cases"][index]
        where: list[Any] = ["cases", index]
        name = raw.get("name") if isinstance(raw.get("name"), str) else f"#{index + 1}"
        prefix = f"case '{name}': "
        if not self.errors.schema(_CASE_VALIDATOR, raw, where, prefix):
            self._check_names_of_invalid_case(raw, where, prefix)
            return None
        if name in self.names:
            self.errors.add(where + ["name"], f"{prefix}the name is also used by the case at line {self.names[name]}")
        self.names.setdefault(name, raw.key_lines["name"])
        flow_name = raw.get("flow", self.document["flow"])
        flow_ok = "flow" not in raw or _check_flow_name(flow_name, self.flows, where + ["flow"], prefix, self.errors)
        flow = self.flows.get(flow_name)
        tz: tzinfo = ZoneInfo(flow.timezone) if flow is not None else timezone.utc
        inputs = self._inputs(raw, where, prefix, tz)
        expect = tuple(Expectation(key, value, raw["expect"].key_lines[key]) for key, value in raw["expect"].items())
        if flow_ok and flow is not None:
            self._check_expect(expect, flow_name, where + ["expect"], prefix)
        return Case(name, flow_name, self.file, raw.line, inputs, expect)

    def _check_names_of_invalid_case(self, raw: MarkedMap, where: list[Any], prefix: str) -> None:
        """A case the schema refused still has its flow, step names, columns
        and status checked, so that every error of the file shows at once."""
        expect, flow_name = raw.get("expect"), raw.get("flow", self.document["flow"])
        if "flow" in raw and _FLOW_NAME_VALIDATOR.is_valid(flow_name) \
                and not _check_flow_name(flow_name, self.flows, where + ["flow"], prefix, self.errors):
            return
        if isinstance(expect, MarkedMap) and flow_name in self.flows.flows:
            items = tuple(Expectation(key, value, expect.key_lines[key]) for key, value in expect.items()
                          if key in _EXPECT_VALIDATORS and _EXPECT_VALIDATORS[key].is_valid(value))
            self._check_expect(items, flow_name, where + ["expect"], prefix)

    def _inputs(self, raw: MarkedMap, where: list[Any], prefix: str, tz: tzinfo) -> Inputs:
        """The case's inputs over the file's defaults, each checked where it
        is written; a time without offset is in ``tz``, the flow's zone."""
        values: dict[str, Any] = {}
        for key in INPUTS:
            origin, source, said = (where, raw, prefix) if key in raw else (["defaults"], self.defaults, "defaults: ")
            if key in source:
                values[key] = self._input(key, source[key], origin + [key], said, tz)
        return Inputs(**{k: v for k, v in values.items() if v is not None})

    def _input(self, key: str, value: Any, path: list[Any], prefix: str, tz: tzinfo) -> Any:
        if key == "at":
            return self._moment(value, path, prefix, tz)
        if key == "dtmf":
            return tuple(parse_dtmf(value)) if isinstance(value, str) else \
                tuple(None if keys in (None, "", "-") else str(keys) for keys in value)
        if key == "spy_sessions":
            return tuple((float(item.get("seconds", 0)), item["ends"]) for item in value)
        if key in ("queue_statuses", "dial_statuses", "vm_statuses", "args", "on_call"):
            return tuple(value)
        if key == "lists":
            for name in value:
                self._known(name, self.lists_read, path + [name], f"{prefix}lists: no step of the loaded flows "
                            f"reads list '{name}'", "lists read")
            return {name: self._list(name, entries, path + [name], prefix) for name, entries in value.items()}
        if key == "overrides":
            for name in value:
                self._known(name, self.flows.schedules, path + [name],
                            f"{prefix}overrides: no schedule named '{name}' among the loaded schedules", "known")
            return tuple(self._override(name, spec, path + [name], prefix, tz) for name, spec in value.items())
        if key == "random":
            return tuple(value) if isinstance(value, list) else (value,)
        if key == "history":
            return self._history(value, path, prefix, tz)
        if key == "supervisors" and isinstance(value, dict):
            return {self._e164(number, path + [number], prefix): pin for number, pin in value.items()}
        if key == "pending_callbacks":
            return tuple(self._e164(number, path + [index], prefix) for index, number in enumerate(value))
        if key == "agent":
            return (value, value) if isinstance(value, str) else (value.get("name", value["interface"]), value["interface"])
        return value

    def _known(self, name: str, known: Iterable[str], path: list[Any], message: str, listed: str) -> None:
        """An error unless ``name`` is among ``known``: a misspelt name
        would leave the flow's steps without what the case meant to give them."""
        if name in known:
            return
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        self.errors.add(path, f"{message}{hint}; {listed}: {', '.join(sorted(known)) or 'none'}")

    def _moment(self, value: Any, path: list[Any], prefix: str, tz: tzinfo) -> datetime | None:
        """A time of the case (YAML may give a datetime, or a date: its
        first instant); without an offset, in the flow's zone, read by
        ``moments``."""
        try:
            if isinstance(value, datetime):
                return moments.local(value, tz)
            if isinstance(value, date):
                return moments.parse(value.isoformat(), tz)
            if isinstance(value, str):
                return moments.parse(value, tz)
        except (moments.SkippedTime, moments.OutOfRange) as exc:
            self.errors.add(path, f"{prefix}{path[-1]}: {exc}")
            return None
        except moments.MomentError:
            pass
        shown = repr(value) if isinstance(value, str) else str(value)
        self.errors.add(path, f"{prefix}{path[-1]}: {shown} is not a date and time such as "
                              "2025-03-10T09:30:00+01:00")
        return None

    def _list(self, name: str, entries: Any, path: list[Any], prefix: str) -> tuple[str, ...] | str:
        if entries == UNAVAILABLE:
            return UNAVAILABLE
        for index, entry in enumerate(entries):
            try:
                normaliser(self.region).key(entry)
            except ValueError as exc:
                self.errors.add(path + [index], f"{prefix}lists.{name}: {exc}")
        return tuple(entries)

    def _history(self, value: Any, path: list[Any], prefix: str, tz: tzinfo) -> tuple[CaseCall, ...] | str:
        """Earlier calls, or ``unavailable``."""
        if value == UNAVAILABLE:
            return UNAVAILABLE
        calls = []
        for index, call in enumerate(value):
            moment = self._moment(call["at"], path + [index, "at"], prefix, tz)
            if moment is not None:
                calls.append(CaseCall(moment, **{k: v for k, v in call.items() if k != "at"}))
        return tuple(calls)

    def _e164(self, number: str, path: list[Any], prefix: str) -> str:
        try:
            return normaliser(self.region).number(number)
        except ValueError as exc:
            self.errors.add(path, f"{prefix}{path[-2]}: {exc}")
            return number

    def _override(self, schedule: str, spec: Any, path: list[Any], prefix: str, tz: tzinfo) -> CaseOverride:
        """``{state, from, until, reason}``; ``from`` and ``until`` read like
        ``at``, and ``from`` must come first."""
        if isinstance(spec, str):
            return CaseOverride(schedule, spec)
        until = self._moment(spec["until"], path + ["until"], prefix, tz) if "until" in spec else None
        start = self._moment(spec["from"], path + ["from"], prefix, tz) if "from" in spec else None
        if start is not None and until is not None and start >= until:
            self.errors.add(path + ["from"], f"{prefix}overrides.{schedule}: from must be before until")
        return CaseOverride(schedule, spec["state"], until, spec.get("reason", ""), start)

    def _check_expect(self, expect: tuple[Expectation, ...], flow_name: str, where: list[Any], prefix: str) -> None:
        """Step names, CDR columns and statuses the flow can really produce."""
        steps = _step_names(self.flows, flow_name)
        for item in expect:
            path = where + [item.key]
            named: list[tuple[int | None, str]] = []
            if item.key in ("path", "path_includes"):
                named = [(i, str(entry).split(":", 1)[0]) for i, entry in enumerate(item.value)]
            elif item.key in ("visits", "skips"):
                named = list(enumerate(item.value))
            elif item.key == "last_step":
                named = [(None, item.value)]
            for index, step in named:
                if step not in steps:
                    self.errors.add(path if index is None else path + [index],
                                    f"{prefix}{item.key}: flow '{flow_name}' has no step '{step}'")
            if item.key == "cdr":
                for column in item.value:
                    if column not in CALL_COLUMNS:
                        self.errors.add(path + [column], f"{prefix}cdr: unknown column '{column}'; "
                                                         f"allowed: {', '.join(CALL_COLUMNS)}")
            if item.key == "status" and item.value not in STATUSES:
                self.errors.add(path, f"{prefix}status: unknown status '{item.value}'; "
                                      f"allowed: {', '.join(STATUSES)}")


def _step_names(flows: FlowSet, start: str) -> set[str]:
    """Steps of ``start`` and of every flow it may transfer to."""
    names: set[str] = set()
    seen, pending = set(), [start]
    while pending:
        flow = flows.get(pending.pop())
        if flow is None or flow.name in seen:
            continue
        seen.add(flow.name)
        names.update(flow.steps)
        pending.extend(t for step in flow.steps.values() for t in node_of(step).flow_references())
    return names
