"""``--caller NUMBER``: one caller's calls however the number was written,
the rule every report applies through ``queries.where`` (docs/reports.md,
"Selecting calls").

A call matches when its caller, in E.164, is NUMBER in E.164 (read in
``default_region`` by the normaliser the server fills ``calls.caller_e164``
with), when its ``caller`` is exactly NUMBER (caller IDs that are no phone
number: ``anonymous``, a SIP name), or, for a row without ``caller_e164``
(written before the column existed), when its ``caller`` is one of the
usual spellings of the number (agi.phone.caller_spellings). ``NUMBER*`` is
the same with prefixes: a national prefix is read as ``default_region``
dials it, as in number lists (``600*`` is ``+34600*`` in ES).

Every test is on one indexed column, so that an OR of them can be answered
from the ``(caller, started_at)`` and ``(caller_e164, started_at)`` indexes.
Phone numbers' data is loaded only when a report is given ``--caller``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.reports.dialect import Dialect

PREFIX_MARK = "*"


@dataclass(frozen=True)
class CallerMatch:
    """What ``--caller`` selects: ``literal`` is NUMBER as written (without
    the ``*`` of a ``prefix``); ``e164`` is NUMBER (or the prefix) in
    E.164, None when it is no phone number; ``spellings`` are the other
    ways a row without ``caller_e164`` may write it."""

    literal: str
    prefix: bool = False
    e164: str | None = None
    spellings: tuple[str, ...] = ()


def caller_match(text: str, region: str) -> CallerMatch:
    """``--caller text`` read in ``region`` (``default_region``)."""
    # phone numbers' data: loaded only for a report given --caller
    from agi.lists.numbers import normaliser
    from agi.phone import caller_spellings
    prefix = text.endswith(PREFIX_MARK)
    literal = text[:-1] if prefix else text
    numbers = normaliser(region)
    try:
        e164 = numbers.prefix(literal) if prefix else numbers.number(literal)
    except ValueError:
        return CallerMatch(literal, prefix)
    others = tuple(s for s in caller_spellings(e164, region) if s != literal)
    return CallerMatch(literal, prefix, e164, others)


def caller_clause(match: CallerMatch, dialect: Dialect, params: dict[str, Any]) -> str:
    """The SQL test (on ``c.caller`` and ``c.caller_e164``) of ``match``;
    its values go into ``params``."""
    def test(column: str, name: str, value: str) -> str:
        if match.prefix and not value:
            return f"{column} <> ''"  # ``*`` alone: any caller ID, not a withheld (empty) one
        if match.prefix:
            params[name] = dialect.prefix_pattern(value)
            return dialect.prefix(column, name)
        params[name] = value
        return f"{column} = :{name}"

    tests = [test("c.caller", "caller", match.literal)]
    if match.e164 is not None:
        tests.append(test("c.caller_e164", "caller_e164", match.e164))
        # {plain}: an old row is found along the caller index, never by
        # walking every row without caller_e164
        old = f"{dialect.pieces.get('plain', '')}c.caller_e164 IS NULL"
        tests += [f"({old} AND {test('c.caller', f'caller{i}', spelling)})"
                  for i, spelling in enumerate(match.spellings)]
    return f"({' OR '.join(tests)})"
