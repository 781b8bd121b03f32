"""What the steps that read number lists share (``robinson``, ``lookup``,
and the caller-ID check of ``override`` and ``supervise``): the ``list``
option (one list name or several), checking a number against those lists,
and counting a number that is not one."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from agi.lists.schema import LIST_NAME
from agi.metrics import LIST_INVALID_NUMBER
from agi.services import ListHit, ListUnavailable, NumberLists, Services

_NAME = {"type": "string", "pattern": LIST_NAME}
#: ``list: robinson`` or ``list: [robinson, internal_dnc]``.
LISTS_SCHEMA = {"oneOf": [_NAME, {"type": "array", "items": _NAME, "minItems": 1, "uniqueItems": True}]}


def list_names(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass
class ListCheck:
    """The first entry that matched, and the lists that could not be read
    (``failed``) with why (``errors``)."""

    hit: ListHit | None = None
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.hit is not None:
            entry = self.hit.entry
            if self.hit.prefix and not entry.endswith("*"):
                entry += "*"
            found.update(list=self.hit.list, entry=entry)
            if self.hit.note:
                found["entry_note"] = self.hit.note
        if self.errors:
            found["error"] = "; ".join(self.errors)
        return found


async def check_lists(lists: NumberLists | None, names: tuple[str, ...], number: str) -> ListCheck:
    """Check ``number`` against each list in order until one matches.
    A list that is missing or unreadable is an error, but a later list
    may still match. ValueError when ``number`` is not a phone number.
    A store may answer at once or with an awaitable (the server's
    PostgreSQL lookups, sent from the reactor, agi/server/pg_reactor.py)."""
    result = ListCheck()
    if lists is None:
        result.failed.extend(names)
        result.errors.append("number lists are not available (no database configured)")
        return result
    for name in names:
        try:
            answer = lists.match(name, number)
            result.hit = await answer if inspect.isawaitable(answer) else answer
        except ListUnavailable as exc:
            result.failed.append(name)
            result.errors.append(str(exc))
            continue
        if result.hit is not None:
            return result
    return result


def count_unusable(services: Services, names: tuple[str, ...]) -> None:
    """A number that is not a phone number was to be checked against
    ``names``: counted as ``invalid_number`` for each (the steps turn it to
    E.164 first, so no list store ever sees it)."""
    for name in names:
        services.metrics.list_checked(name, LIST_INVALID_NUMBER)
