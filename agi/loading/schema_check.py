"""JSON Schema checks in words, and a quick check that needs no jsonschema.

``conforms`` tells whether a document is valid for the keywords agiflow's
schemas use (``type``, ``properties``, ``additionalProperties``,
``required``, ``items``, ``enum``, ``const``, ``anyOf``, ``minLength``,
``pattern``, ``minimum``, ``maximum``, ``exclusiveMinimum``) with JSON
Schema's own rules, and gives None for any other keyword. A valid config
is then read without importing jsonschema (a tenth of a second every
command would pay); only a document that is not valid, or a schema the
quick check does not know, is checked by jsonschema, whose errors
``describe`` turns into words.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from jsonschema import ValidationError

#: Keywords that never change whether a document is valid.
_NOTES = frozenset({"description", "title", "$comment", "default", "examples"})
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


class Unknown(Exception):
    """The schema uses a keyword the quick check does not know."""


def conforms(schema: dict[str, Any], instance: Any) -> bool | None:
    """Whether ``instance`` is valid for ``schema``; None when the schema
    uses a keyword this check does not know (ask jsonschema)."""
    try:
        return _valid(schema, instance)
    except Unknown:
        return None


def _valid(schema: dict[str, Any], value: Any) -> bool:
    for keyword, expected in schema.items():
        if keyword in _NOTES or keyword in ("properties", "additionalProperties"):
            continue
        check = _KEYWORDS.get(keyword)
        if check is None:
            raise Unknown(keyword)
        if not check(expected, value, schema):
            return False
    return _object_valid(schema, value) if isinstance(value, dict) else True


def _object_valid(schema: dict[str, Any], value: dict[Any, Any]) -> bool:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if not isinstance(extra, bool):
        raise Unknown("additionalProperties")
    for key, item in value.items():
        if key in properties:
            if not _valid(properties[key], item):
                return False
        elif not extra:
            return False
    return True


def _type(expected: Any, value: Any, _schema: dict[str, Any]) -> bool:
    names = expected if isinstance(expected, list) else [expected]
    if any(name not in _TYPES for name in names):
        raise Unknown(f"type {expected}")
    return any(_TYPES[name](value) for name in names)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_KEYWORDS: dict[str, Callable[[Any, Any, dict[str, Any]], bool]] = {
    "type": _type,
    "enum": lambda expected, v, _: any(_same(v, e) for e in expected),
    "const": lambda expected, v, _: _same(v, expected),
    "anyOf": lambda expected, v, _: any(_valid(s, v) for s in expected),
    "required": lambda expected, v, _: not isinstance(v, dict) or all(k in v for k in expected),
    "items": lambda expected, v, _: not isinstance(v, list) or all(_valid(expected, i) for i in v),
    "minLength": lambda expected, v, _: not isinstance(v, str) or len(v) >= expected,
    "pattern": lambda expected, v, _: not isinstance(v, str) or re.search(expected, v) is not None,
    "minimum": lambda expected, v, _: not _number(v) or v >= expected,
    "maximum": lambda expected, v, _: not _number(v) or v <= expected,
    "exclusiveMinimum": lambda expected, v, _: not _number(v) or v > expected,
}


def describe(error: ValidationError) -> str:
    """A schema error in words a flow author understands."""
    at = _at(error)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"{at}unknown key '{extra[0]}'; allowed: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{at}{error.message.replace(' is a required property', '')} is required"
    mixed = _mixed_forms(error)
    if mixed:
        return f"{at}{' and '.join(mixed)} cannot be written together: an item is one of {', '.join(_keys(error))}"
    if error.validator == "oneOf" and error.context:
        # Prefer what is wrong inside the form the value was written in
        # ({cause: 128}: the cause), over "is not of type" of the other forms.
        depth = len(list(error.absolute_path))
        inside = [e for e in error.context
                  if len(list(e.absolute_path)) > depth or e.validator not in ("type", "const")]
        if not inside and all(e.validator in ("type", "const") for e in error.context):
            # of no form at all: name every type and value it may take, not the first alone
            types = dict.fromkeys(t for e in error.context if e.validator == "type"
                                  for t in ([e.validator_value] if isinstance(e.validator_value, str)
                                            else e.validator_value))
            values = [json.dumps(e.validator_value) for e in error.context if e.validator == "const"]
            if not types:
                return f"{at}{error.instance!r} is not {' or '.join(values)}"
            nor = f", nor {' or '.join(values)}" if values else ""
            return f"{at}{error.instance!r} is not of type {' or '.join(repr(t) for t in types)}{nor}"
        best = min(inside or error.context, key=lambda e: len(list(e.absolute_path)))
        return describe(best)
    return f"{at}{error.message}"


def _keys(error: ValidationError) -> list[str]:
    """The required key of each mapping form of a ``oneOf``."""
    return [key for form in error.schema.get("oneOf", []) if isinstance(form, dict)
            for key in form.get("required", [])[:1]]


def _mixed_forms(error: ValidationError) -> list[str]:
    """The keys of two or more forms of a ``oneOf`` a mapping holds at once
    (``{digits: '1', number: 4}`` of play's items); [] otherwise."""
    if error.validator != "oneOf" or not isinstance(error.instance, dict):
        return []
    found = [key for key in _keys(error) if key in error.instance]
    return found if len(found) > 1 else []


def _at(error: ValidationError) -> str:
    """``steps.menu.on: `` for an error there; empty at the top."""
    location = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path)
    location = location.replace(".[", "[")
    return f"{location}: " if location else ""


def each_problem(error: ValidationError, path: list[Any],
                 words: Callable[[ValidationError], str] = describe) -> list[tuple[list[Any], str]]:
    """(where, message) of every problem of a schema error: an unknown-key
    error names each unknown key at its own line (jsonschema gives one error
    for all of them), in the order written; any other error is itself, in
    ``words``."""
    form = written_form(error)
    if form is not None:
        # every mistake in the form the value is written in, each at its own line
        base = path[:len(path) - len(list(error.absolute_path))]
        return [problem for inner in form for problem in each_problem(inner, base + list(inner.absolute_path), words)]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extras = [key for key in error.instance if key not in allowed]
        if len(extras) > 1:
            listed = ", ".join(sorted(allowed))
            return [(path + [key], f"{_at(error)}unknown key '{key}'; allowed: {listed}") for key in extras]
    return [(error_path(error, path), words(error))]


def written_form(error: ValidationError) -> list[ValidationError] | None:
    """The errors of the one form of a ``oneOf`` the value is written in:
    the only form of its type (``queue: {...}`` is the options, not the
    name), or among forms of one type the only one whose required keys it
    has (``{digits: []}`` of play's items); None when no single form is."""
    if error.validator != "oneOf" or not error.context:
        return None
    depth = len(list(error.absolute_path))
    forms: dict[int, list[ValidationError]] = {}
    for inner in error.context:
        forms.setdefault(inner.relative_schema_path[0], []).append(inner)

    def refuses(errors: list[ValidationError], validators: tuple[str, ...]) -> bool:
        return any(len(list(e.absolute_path)) == depth and e.validator in validators for e in errors)

    of_type = [errors for errors in forms.values() if not refuses(errors, ("type", "const"))]
    if len(of_type) > 1:
        of_type = [errors for errors in of_type if not refuses(errors, ("required",))]
    return sorted(of_type[0], key=lambda e: list(map(str, e.absolute_path))) if len(of_type) == 1 else None


def error_path(error: ValidationError, path: list[Any]) -> list[Any]:
    """Point an unknown-key error, and a refused key name (``propertyNames``:
    a step name, a menu key), at the offending key's own line."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        if extra:
            return path + [extra[0]]
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        return path + [error.instance]
    return path
