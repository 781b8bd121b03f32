"""Regular expressions a flow author writes (``input.pattern``,
``menu.direct_dial.pattern``, ``supervise.extensions.pattern``), matched
against the keys a caller presses.

Some patterns backtrack for a time exponential in the length of an entry
that does not match (``^(0|00)+$`` on 64 zeros and a ``*``): a match runs
on the event loop and Python's ``re`` has no time limit, so one caller's
keys could hold every call of the process for hours. Patterns are matched
with the ``regex`` module (the syntax of ``re``) under a CPU time limit;
past it the match raises ``PatternTimeout``, the step's ``error`` outcome.

Compiling is bounded too: ``regex`` writes ``a{n}`` out as n copies of
``a`` (``a{4294967294}`` took 7 GB of memory in 20 s, while a server
reloading its flows held every call), so a pattern whose counts stand for
more than MAX_WRITTEN_OUT items is refused before it is compiled.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import regex

#: CPU time one match may take. A pattern that does not backtrack takes a
#: few microseconds on the longest entry (64 keys).
MATCH_CPU_SECONDS = 0.010


class PatternTimeout(Exception):
    """A pattern took more than MATCH_CPU_SECONDS on an entry."""


#: The most items a pattern's counts may stand for, written out: a thousand
#: times what a pattern of keys (64 at most) needs; compiled in milliseconds.
MAX_WRITTEN_OUT = 10_000
_REPEATS = {re._constants.MAX_REPEAT, re._constants.MIN_REPEAT,  # type: ignore[attr-defined]
            getattr(re._constants, "POSSESSIVE_REPEAT", re._constants.MAX_REPEAT)}  # type: ignore[attr-defined]
#: A count in the text of a pattern: ``{n}``, ``{n,}``, ``{n,m}`` not after a backslash.
_COUNT = re.compile(r"(?<!\\)\{([0-9]+)(?:,[0-9]*)?\}")


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern)


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is no regular expression, or None."""
    try:
        if _written_out(pattern) > MAX_WRITTEN_OUT:
            return (f"invalid regular expression: its counts stand for more than {MAX_WRITTEN_OUT} items "
                    "written out (a{n} is n copies of a); no entry of keys is that long")
        _compiled(pattern)
    except regex.error as exc:
        return f"invalid regular expression: {exc}"
    except RecursionError:
        return "invalid regular expression: nested too deeply"
    return None


def _written_out(pattern: str) -> int:
    """How many items ``pattern`` stands for once each count's minimum is
    written out, as ``regex`` compiles it. Read with the ``re`` module's
    parser; a pattern it does not read (syntax of ``regex`` only) counts
    as the product of all its counts, at least as many."""
    try:
        return _items(re._parser.parse(pattern))  # type: ignore[attr-defined]
    except (re.error, OverflowError):
        product = 1
        for count in _COUNT.findall(pattern):
            product *= int(count) if len(count) <= 6 else MAX_WRITTEN_OUT + 1
            if product > MAX_WRITTEN_OUT:
                break
        return product + len(pattern)


def _items(parsed: Any) -> int:
    """``_written_out`` of a parsed (sub)pattern, stopping past the limit."""
    total = 0
    for op, value in parsed:
        if op in _REPEATS:
            low, _, inner = value
            total += max(low, 1) * _items(inner)
        elif isinstance(value, (list, tuple)) or hasattr(value, "data"):
            total += 1 + sum(_items(part) for part in _parts(value))
        else:
            total += 1
        if total > MAX_WRITTEN_OUT:
            return total
    return total


def _parts(value: Any) -> list[Any]:
    """The subpatterns inside a parsed item's value (a group, a branch, a lookaround)."""
    if hasattr(value, "data"):
        return [value]
    found: list[Any] = []
    for part in value:
        if hasattr(part, "data"):
            found.append(part)
        elif isinstance(part, (list, tuple)):
            found += _parts(part)
    return found


def matches_whole(pattern: str, keys: str) -> bool:
    """Whether ``pattern`` matches all of ``keys``; PatternTimeout when it
    takes more than MATCH_CPU_SECONDS to tell."""
    try:
        return _compiled(pattern).fullmatch(keys, timeout=MATCH_CPU_SECONDS) is not None
    except TimeoutError:
        raise PatternTimeout(f"pattern {pattern!r} took more than {MATCH_CPU_SECONDS * 1000:g} ms on "
                             f"{len(keys)} keys: it backtracks too much (a repeated group whose branches overlap, "
                             f"as in (0|00)+)") from None
