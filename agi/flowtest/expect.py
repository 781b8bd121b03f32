"""Comparing what a simulated call did with what a case expects.

Each ``expect`` key has one check; a check returns the mismatches it finds,
each with the line of the YAML that states the expectation (for ``cdr``,
``fields`` and ``variables``: the line of the column or variable itself).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from agi.flowtest.model import Case, Expectation, Mismatch


@dataclass(frozen=True)
class Observed:
    """What the simulated call did, in the terms a case speaks of."""

    path: list[str]
    call: Mapping[str, Any]
    fields: Mapping[str, Any]
    variables: Mapping[str, str]
    commands: list[str]
    callbacks: list[dict[str, Any]]
    webhooks: list[dict[str, Any]]
    callbacks_closed: list[str] = field(default_factory=list)


def check(case: Case, observed: Observed) -> list[Mismatch]:
    """Every way ``observed`` differs from the case's expectations."""
    found: list[Mismatch] = []
    for item in case.expect:
        for line, message, expected, got in CHECKS[item.key](item, observed):
            found.append(Mismatch(case.file, line, item.key, message, expected, got))
    return found


#: (line, message, expected, got) for one mismatch.
Problem = tuple[int, str, Any, Any]


def same(expected: Any, got: Any) -> bool:
    """YAML value vs. what the call produced: ``10`` matches ``"10"``,
    ``true`` matches ``1``, ``null`` matches a value never set; mappings
    match when every expected key matches (extra keys are ignored)."""
    if isinstance(expected, Mapping):
        return isinstance(got, Mapping) and all(same(v, got.get(k)) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(got, (list, tuple)) and len(expected) == len(got) and \
            all(same(e, g) for e, g in zip(expected, got))
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, bool):
        return str(got).lower() in (("1", "true") if expected else ("0", "false"))
    return bool(expected == got) or str(expected) == str(got)


def difference(expected: Any, got: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """The first place where ``got`` does not match ``expected``, as
    (dotted key, expected, got); None when it matches."""
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        for key, want in expected.items():
            found = difference(want, got.get(key), f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
        return None
    return None if same(expected, got) else (where, expected, got)


def show(value: Any) -> str:
    """A value as YAML would write it inline: texts quoted, ``'`` when they hold ``"``."""
    if isinstance(value, str) and '"' in value and "'" not in value:
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False, default=str)


def show_path(path: Sequence[str]) -> str:
    return " > ".join(path) if path else "(no step ran)"


def _why_it_ended(seen: Observed) -> str:
    """Why a call stopped, when it failed: what a path mismatch hides."""
    error = seen.call.get("error")
    return f" (the call ended with {seen.call.get('status')}: {error})" if error else ""


def _entry_matches(entry: str, step: str) -> bool:
    """``menu`` matches ``menu:2``; ``menu:2`` matches only itself."""
    return entry == step or (":" not in entry and step.split(":", 1)[0] == entry)


def _path(item: Expectation, seen: Observed) -> list[Problem]:
    expected: list[str] = list(item.value)
    if len(expected) == len(seen.path) and all(map(_entry_matches, expected, seen.path)):
        return []
    first = next((i for i, (e, g) in enumerate(zip(expected, seen.path)) if not _entry_matches(e, g)),
                 min(len(expected), len(seen.path)))
    want = expected[first] if first < len(expected) else "(end of call)"
    got = seen.path[first] if first < len(seen.path) else "(end of call)"
    message = (f"differs at step {first + 1}: expected {want}, got {got}\n"
               f"  expected: {show_path(expected)}\n       got: {show_path(seen.path)}{_why_it_ended(seen)}")
    return [(item.line, message, expected, seen.path)]


def _path_includes(item: Expectation, seen: Observed) -> list[Problem]:
    position = 0
    for index, entry in enumerate(item.value):
        while position < len(seen.path) and not _entry_matches(entry, seen.path[position]):
            position += 1
        if position == len(seen.path):
            after = f" after {item.value[index - 1]}" if index else ""
            message = f"{entry} does not come{after} in the path: {show_path(seen.path)}{_why_it_ended(seen)}"
            return [(_item_line(item, index), message, item.value, seen.path)]
        position += 1
    return []


def _visits(item: Expectation, seen: Observed) -> list[Problem]:
    visited = {step.split(":", 1)[0] for step in seen.path}
    return [(_item_line(item, i), f"step {step} never ran; path: {show_path(seen.path)}{_why_it_ended(seen)}",
             step, seen.path)
            for i, step in enumerate(item.value) if step not in visited]


def _skips(item: Expectation, seen: Observed) -> list[Problem]:
    visited = [step.split(":", 1)[0] for step in seen.path]
    return [(_item_line(item, i), f"step {step} ran (step {visited.index(step) + 1} of the path: "
                                  f"{show_path(seen.path)})", step, seen.path)
            for i, step in enumerate(item.value) if step in visited]


def _column(name: str) -> Callable[[Expectation, Observed], list[Problem]]:
    """A check comparing the expectation with one column of the CDR row."""
    def check_column(item: Expectation, seen: Observed) -> list[Problem]:
        got = seen.call.get(name)
        if same(item.value, got):
            return []
        detail = f" ({seen.call['error']})" if name == "status" and seen.call.get("error") else ""
        return [(item.line, f"expected {show(item.value)}, got {show(got)}{detail}", item.value, got)]
    return check_column


def _mapping(source: Callable[[Observed], Mapping[str, Any]]) -> Callable[[Expectation, Observed], list[Problem]]:
    """A check comparing each expected key with ``source``'s value for it."""
    def check_mapping(item: Expectation, seen: Observed) -> list[Problem]:
        values = source(seen)
        problems: list[Problem] = []
        for key, want in item.value.items():
            got = values.get(key)
            if not same(want, got):
                state = "not set" if key not in values or got is None else f"got {show(got)}"
                problems.append((_key_line(item, key), f"{key}: expected {show(want)}, {state}", want, got))
        return problems
    return check_mapping


def _commands_include(item: Expectation, seen: Observed) -> list[Problem]:
    return [(_item_line(item, i), f"no command sent contains {show(text)}", text, seen.commands)
            for i, text in enumerate(item.value) if not any(text in command for command in seen.commands)]


def _commands_exclude(item: Expectation, seen: Observed) -> list[Problem]:
    problems: list[Problem] = []
    for i, text in enumerate(item.value):
        sent = [command for command in seen.commands if text in command]
        if sent:
            problems.append((_item_line(item, i), f"command {sent[0]} was sent (it contains {show(text)})",
                             text, sent))
    return problems


def _headers_as_written(want: Any, got: Any) -> Any:
    """A webhook post with its headers under the names the expectation
    writes them with: HTTP header names are read in any case."""
    if not (isinstance(want, Mapping) and isinstance(want.get("headers"), Mapping)
            and isinstance(got, Mapping) and isinstance(got.get("headers"), Mapping)):
        return got
    sent = {name.lower(): value for name, value in got["headers"].items()}
    return {**got, "headers": {name: sent.get(str(name).lower()) for name in want["headers"]}}


def _collected(source: Callable[[Observed], list[Any]], what: str,
               as_written: Callable[[Any, Any], Any] = lambda want, got: got,
               ) -> Callable[[Expectation, Observed], list[Problem]]:
    """A check of the callback requests or webhook posts the call made, in order."""
    def check_collected(item: Expectation, seen: Observed) -> list[Problem]:
        made = source(seen)
        if len(made) != len(item.value):
            return [(item.line, f"expected {len(item.value)} {what}(s), got {len(made)}"
                                + (f": {show(made)}" if made else ""),
                     item.value, made)]
        problems: list[Problem] = []
        for i, (want, got) in enumerate(zip(item.value, made)):
            found = difference(want, as_written(want, got))
            if found is not None:
                key, expected, actual = found
                state = "not set" if actual is None else f"got {show(actual)}"
                problems.append((_item_line(item, i), f"{what} {i + 1}: {key}: expected {show(expected)}, {state}",
                                 want, got))
        return problems
    return check_collected


def _item_line(item: Expectation, index: int) -> int:
    lines = getattr(item.value, "item_lines", None)
    return lines[index] if lines and index < len(lines) else item.line


def _key_line(item: Expectation, key: str) -> int:
    return int(getattr(item.value, "key_lines", {}).get(key, item.line))


CHECKS: dict[str, Callable[[Expectation, Observed], list[Problem]]] = {
    "path": _path,
    "path_includes": _path_includes,
    "visits": _visits,
    "skips": _skips,
    "status": _column("status"),
    "outcome": _column("outcome"),
    "last_step": _column("last_step"),
    "cdr": _mapping(lambda seen: seen.call),
    "fields": _mapping(lambda seen: seen.fields),
    "variables": _mapping(lambda seen: seen.variables),
    "commands_include": _commands_include,
    "commands_exclude": _commands_exclude,
    "callbacks": _collected(lambda seen: seen.callbacks, "callback request"),
    "webhooks": _collected(lambda seen: seen.webhooks, "webhook post", _headers_as_written),
    "callbacks_closed": _collected(lambda seen: seen.callbacks_closed, "closed callback number"),
}
