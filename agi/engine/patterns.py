"""Regular expressions a flow author writes (``input.pattern``,
``menu.direct_dial.pattern``, ``supervise.extensions.pattern``), matched
against the keys a caller presses.

Some patterns backtrack for a time exponential in the length of an entry
that does not match (``^(0|00)+$`` on 64 zeros and a ``*``): a match runs
on the event loop and Python's ``re`` has no time limit, so one caller's
keys could hold every call of the process for hours. Patterns are matched
with the ``regex`` module (the syntax of ``re``) under a CPU time limit;
past it the match raises ``PatternTimeout``, the step's ``error`` outcome.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import regex

#: CPU time one match may take. A pattern that does not backtrack takes a
#: few microseconds on the longest entry (64 keys).
MATCH_CPU_SECONDS = 0.010


class PatternTimeout(Exception):
    """A pattern took more than MATCH_CPU_SECONDS on an entry."""


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern)


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is no regular expression, or None."""
    try:
        _compiled(pattern)
    except regex.error as exc:
        return f"invalid regular expression: {exc}"
    return None


def matches_whole(pattern: str, keys: str) -> bool:
    """Whether ``pattern`` matches all of ``keys``; PatternTimeout when it
    takes more than MATCH_CPU_SECONDS to tell."""
    try:
        return _compiled(pattern).fullmatch(keys, timeout=MATCH_CPU_SECONDS) is not None
    except TimeoutError:
        raise PatternTimeout(f"pattern {pattern!r} took more than {MATCH_CPU_SECONDS * 1000:g} ms on "
                             f"{len(keys)} keys: it backtracks too much (a repeated group whose branches overlap, "
                             f"as in (0|00)+)") from None
