"""Text columns of the CDR as text, whatever wrote them.

SQLite keeps a BLOB in a TEXT column as it is (another tool, or a row
written by hand, may put one there), and a table that tool created may
hold numbers in one. Reports read such a value as text where they read it
(no scan of the table first): a BLOB as UTF-8, each byte that is none as
U+FFFD; a number as SQL's ``CAST(... AS TEXT)`` spells it.
"""
from __future__ import annotations

from typing import Any

_TEXT = frozenset({str, type(None)})


def as_text(value: Any) -> str | None:
    """``value`` of a text column as text (None stays None)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def texts(row: tuple[Any, ...], at: tuple[int, ...]) -> tuple[Any, ...]:
    """``row`` with its values at the positions ``at`` (text columns) as
    text: the row itself when they are already (the rows another tool did
    not write, at the cost of one look at their types)."""
    if _TEXT.issuperset(map(type, map(row.__getitem__, at))):
        return row
    return tuple(as_text(value) if i in at else value for i, value in enumerate(row))
