"""The longest text each stored field keeps, in one place.

Much of what the database stores comes from the network (the AGI
environment, replies) or from templates fed by it. Every text value is cut
here before it is queued for writing, so a peer cannot make a row, the
writer's queue or the database grow beyond these caps: a cut value ends
with ``…`` and is exactly its cap long. JSON columns stay valid JSON: each
string inside is cut, and when the whole text is still too long, trailing
items (or keys, in key order) are left out and ``"…"`` marks the place.
docs/cdr.md lists the caps.
"""
from __future__ import annotations

from typing import Any, Mapping

from agi.vocabulary import as_json

CUT = "\u2026"
#: Characters a stored text value keeps unless CAPS says otherwise.
TEXT = 256
#: Characters of each string inside a JSON column, and of the whole JSON text.
JSON_STRING = 1024
JSON_TEXT = 8192
#: Columns (of calls, call_steps, callbacks, list entries and overrides) with another cap.
CAPS: dict[str, int] = {
    "requested_flow": 1024, "error": 1024, "recording": 1024, "path": 16384,
    "reason": 1024, "note": 1024,
    "args": JSON_TEXT, "fields": JSON_TEXT, "details": JSON_TEXT,
}


def valid_text(value: Any) -> Any:
    """``value`` with every lone surrogate in its text (a ``"\\ud800"`` escape
    in JSON, undecodable bytes of a command-line argument) and every NUL (a
    ``%00`` in the AGI URL's query string, a ``"\\u0000"`` in JSON) replaced by
    U+FFFD, through dicts, lists and tuples: text either database can store
    (PostgreSQL refuses NUL in text)."""
    if isinstance(value, str):
        text = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    if isinstance(value, dict):
        return {key: valid_text(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(valid_text(item) for item in value)
    return value


def cap_text(value: str, limit: int) -> str:
    """``value``, or its first ``limit - 1`` characters and ``…``."""
    return value if len(value) <= limit else value[:limit - 1] + CUT


def cap_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` with every text value cut at its column's cap."""
    return {key: cap_text(value, CAPS.get(key, TEXT)) if type(value) is str and len(value) > TEXT else value
            for key, value in row.items()}


def capped_json(value: Any, string: int = JSON_STRING, total: int = JSON_TEXT) -> str:
    """``as_json(value)`` with every string inside cut at ``string``
    characters and the whole text at most ``total`` characters."""
    text = as_json(value)
    if len(text) <= string:
        return text  # no string inside can be longer: nearly always
    value = _cap_strings(value, string)
    text = as_json(value)
    if len(text) <= total:
        return text
    return _fit(value, total)


def _cap_strings(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return cap_text(value, limit)
    if isinstance(value, dict):
        return {cap_text(str(k), limit): _cap_strings(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cap_strings(item, limit) for item in value]
    return value


def _fit(value: Any, total: int) -> str:
    """The JSON of ``value`` with its last items or keys left out until it
    fits in ``total`` characters; ``"…"`` (a list item, or a key whose value
    counts the keys left out) marks the cut."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        sizes = [len(as_json({key: item})) for key, item in items]  # '{"key": item}': its ', ' fits in the braces

        def render(keep: int) -> str:
            return as_json({**dict(items[:keep]), CUT: len(items) - keep})
    elif isinstance(value, list):
        items, sizes = value, [len(as_json(item)) + 2 for item in value]

        def render(keep: int) -> str:
            return as_json([*value[:keep], CUT])
    else:
        return as_json(cap_text(str(value), total - 2))
    keep, used = 0, len(render(0))
    while keep < len(items) and used + sizes[keep] <= total:
        used += sizes[keep]
        keep += 1
    text = render(keep)
    while len(text) > total and keep:
        keep -= 1
        text = render(keep)
    return text
