"""Asterisk 22's syntax for an application's arguments: how the one options
string of ``EXEC <app> <options>`` becomes the application's arguments, and
how agiflow writes a value so that it stays one argument.

res_agi.c's ``handle_exec`` hands the string to the application untouched
(no ``${...}`` substitution unless the channel has ``AGIEXECFULL=yes``). Nearly
every application splits it with ``AST_STANDARD_APP_ARGS``, that is
``__ast_app_separate_args(data, ',', 1, ...)`` in main/app.c, which
``split`` models:

- a ``,`` ends an argument, except inside ``(...)``, ``[...]`` or ``"..."``
  (the counts run on across arguments);
- a ``"`` toggles quoting and is removed;
- a ``\\`` is removed and the character after it is taken as it is;
- the last argument an application declares gets the rest of the string
  unparsed: its commas, quotes and backslashes stay.

So a backslash before each of ``\\ " , ( ) [ ]`` (``escape``) makes any text
one argument that reaches the application exactly as written, in every
argument but an application's last. Some text cannot be escaped and is
refused where a template inserts it (``inserted_problem``): line breaks and
NUL (they end the AGI command), ``${`` and ``$[`` (Exec, TryExec and
WaitForCondition evaluate their arguments, MixMonitor its post-processing
command, EXEC itself with AGIEXECFULL=yes; Asterisk has no escape for them)
and ``^`` (Dial, Queue and Originate turn every ``^`` into a comma inside
subroutine arguments such as Dial's ``U()``).
Pure functions: no I/O.
"""
from __future__ import annotations

import re

#: The characters ``__ast_app_separate_args`` reads: agiflow escapes them.
SYNTAX = frozenset('\\",()[]')
#: What ends an AGI command line or Asterisk's C string: never sendable.
_LINE_ENDERS = re.compile(r"[\r\n\x00]")
#: Text some applications evaluate or rewrite inside an argument, unescapable.
_UNESCAPABLE = re.compile(r"\$[{\[]|\^")
#: More arguments than any application declares: every one is parsed.
UNLIMITED = 1 << 30


def escape(text: str) -> str:
    """``text`` as one argument: a backslash before each ``\\ " , ( ) [ ]``."""
    if SYNTAX.isdisjoint(text):
        return text
    return "".join("\\" + char if char in SYNTAX else char for char in text)


def join(values: list[str] | tuple[str, ...]) -> str:
    """Arguments already escaped, comma-separated."""
    return ",".join(values)


def line_problem(text: str) -> str | None:
    """Why ``text`` can never be sent in an argument, or None."""
    if "\x00" in text:
        return "contains a NUL character"
    if _LINE_ENDERS.search(text):
        return "contains a line break"
    return None


def inserted_problem(text: str, refused: str = "") -> str | None:
    """Why a value a template inserts into an application's arguments is
    refused, or None: a line break or NUL, ``${``, ``$[``, ``^``, or one of
    the ``refused`` characters (a step's own separators, such as ``&``)."""
    problem = line_problem(text)
    if problem:
        return problem
    found = _UNESCAPABLE.search(text)
    if found:
        what = found.group()
        return (f"contains {what!r}, which Asterisk "
                + ("evaluates in some applications" if what != "^" else "turns into a comma in subroutine arguments"))
    bad = sorted({char for char in text if char in refused})
    if bad:
        return "contains " + ", ".join(repr(char) for char in bad)
    return None


def balanced(text: str) -> bool:
    """True when ``(``/``)`` and ``[``/``]`` pair up and no ``"`` is left
    open, so that ``text`` cannot swallow the arguments after it."""
    depth = {"(": 0, "[": 0}
    closing = {")": "(", "]": "["}
    for char in text:
        if char in depth:
            depth[char] += 1
        elif char in closing:
            if depth[closing[char]] == 0:
                return False
            depth[closing[char]] -= 1
    return depth == {"(": 0, "[": 0} and text.count('"') % 2 == 0


#: What makes Asterisk read more than commas: escapes, quotes and brackets.
_GROUPING = re.compile(r'[\\"(\[]')


def split(data: str, declared: int = UNLIMITED) -> list[str]:
    """The arguments an application that declares ``declared`` of them
    reads from ``data``, as ``AST_STANDARD_APP_ARGS`` (main/app.c) splits it."""
    if _GROUPING.search(data) is None:  # the commas alone split it (most arguments: a tenth of the time)
        return data.split(",", declared - 1) if data else []
    return _parsed(data, declared)


def _parsed(data: str, declared: int) -> list[str]:
    """``split`` of a text with escapes, quotes or brackets, character by character."""
    args: list[str] = []
    state = {"(": 0, "[": 0, '"': 0}
    i, n, ended_on_comma = 0, len(data), False
    while i < n and len(args) < declared - 1:
        arg, i, ended_on_comma = _one(data, i, state)
        args.append(arg)
    if i < n or ended_on_comma:
        args.append(data[i:])  # the last declared argument: the rest, unparsed
    return args


def _one(data: str, i: int, state: dict[str, int]) -> tuple[str, int, bool]:
    """One argument from ``data[i:]``: its text, where the next one starts,
    and whether a comma ended it."""
    out: list[str] = []
    n = len(data)
    while i < n:
        char = data[i]
        if char == "\\":
            out.append(data[i + 1:i + 2])  # a lone final backslash is dropped
            i += 2
            continue
        if char == '"':
            state['"'] ^= 1
        elif char == "," and not any(state.values()):
            return "".join(out), i + 1, True
        else:
            if char in "([":
                state[char] += 1
            elif char in ")]" and state["(" if char == ")" else "["]:
                state["(" if char == ")" else "["] -= 1
            out.append(char)
        i += 1
    return "".join(out), i, False


def split_raw(data: str, delimiter: str, declared: int) -> list[str]:
    """The arguments ``AST_NONSTANDARD_RAW_ARGS`` reads from ``data``
    (``__ast_app_separate_args`` with no characters removed): ``delimiter``
    ends an argument outside ``(...)``, ``[...]`` and ``"..."``, a ``\\``
    keeps the character after it from splitting, quotes and backslashes
    stay; the last of ``declared`` arguments gets the rest."""
    args: list[str] = []
    depth = {"(": 0, "[": 0}
    quoted, start, i, n = False, 0, 0, len(data)
    while i < n and len(args) < declared - 1:
        char = data[i]
        if char == "\\":
            i += 1
        elif char == '"' and delimiter != '"':
            quoted = not quoted
        elif char in depth:
            depth[char] += 1
        elif char in ")]":
            opening = "(" if char == ")" else "["
            depth[opening] = max(depth[opening] - 1, 0)
        elif char == delimiter and not quoted and not any(depth.values()):
            args.append(data[start:i])
            start = i + 1
        i += 1
    if start < n or (args and start == n):
        args.append(data[start:])
    return args

