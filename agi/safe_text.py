"""Text that came from callers or files, made safe where it is shown.

A caller ID is whatever the far end sends: it can hold terminal escape
sequences (an OSC title change ending in BEL, a CSI that moves the cursor
or clears the screen) or start like a spreadsheet formula. These helpers
are used wherever such text leaves agiflow: terminal tables and messages,
CSV files, list notes, log lines.
"""
from __future__ import annotations

import re
import unicodedata

#: ECMA-48 escape sequences, 7-bit (ESC ...) and 8-bit (C1) forms:
#: strings (OSC, DCS, SOS, PM, APC) up to their terminator (BEL or ST) or
#: the end of the text, control sequences (CSI), then other escapes.
_SEQUENCE = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?",
    re.DOTALL,
)
#: Control characters left after the sequences: C0, DEL and C1.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Line breaks and tabs become a space, so that words stay apart.
_SPACING = str.maketrans({"\t": " ", "\n": " ", "\r": " ", "\x0b": " ", "\x0c": " "})

#: What a spreadsheet reads as the start of a formula (OWASP's CSV
#: injection list): such a cell gets a leading ``'``.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Text a spreadsheet would read as a number and change (``600111222``,
#: ``0034600111222`` losing its zeros, the call id ``1741597200.10``, ``08``,
#: ``1e5``, ``12%``, ``(12)``, ``1 234,5``): such a cell gets a leading ``'`` too.
_RISKY_START = frozenset("=+-@(.,'")
#: What a spreadsheet drops from a cell as it reads the file (LibreOffice
#: drops every NUL): ``\0=1+1`` is the formula ``=1+1`` to it, ``6\x0000`` the number 600.
_DROPPED = "\x00"
#: The ASCII characters a risky cell cannot start with (letters, ``#``,
#: ``/``...): one look-up settles most cells of a long export.
SAFE_START = frozenset(c for c in map(chr, range(128))
                       if not (c in _RISKY_START or c.isdigit() or c.isspace() or c in _DROPPED))
#: Possessive (``*+``) and with the first digit found by a class without
#: digits: the plain form backtracked for 0.2 s on a 1,000-character caller
#: text that fails at its end, a cell of a report.
_NUMBER_LIKE = re.compile(r"[\s(]*+[+-]?[\s.,]*+\d[\d\s.,]*+(?:[eE][+-]?\d++)?+\s*+%?[\s)]*+")


def terminal_text(text: str) -> str:
    """``text`` without escape sequences and control characters (C0, DEL,
    C1); tabs and line breaks become spaces. Every other character,
    accents, scripts and emoji included, is kept."""
    if text.isprintable():
        return text
    return _CONTROL.sub("", _SEQUENCE.sub("", text).translate(_SPACING))


#: Bidirectional classes that can move the text around a name when it is
#: shown: right-to-left letters and the explicit direction controls.
_REORDERING = frozenset({"R", "AL", "RLE", "RLO", "LRE", "LRO", "RLI", "LRI", "FSI", "PDF", "PDI"})


def isolated(name: str | None) -> str:
    """A name set apart from the text around it (Unicode's first strong
    isolate ... pop directional isolate, which show nothing): a menu or
    flow named in Arabic or Hebrew keeps its place in a line of text, and
    the words and numbers after it theirs; a direction control inside it
    stops at its end."""
    return f"\u2068{name}\u2069"


def set_apart(text: str) -> str:
    """``text`` ``isolated`` when it holds a right-to-left letter or a
    direction control; as it is otherwise."""
    if text.isascii():
        return text
    return isolated(text) if any(unicodedata.bidirectional(c) in _REORDERING for c in text) else text


def escaped_text(text: str) -> str:
    """``text`` with every character that is not printable (a carriage
    return, ESC, another control character) written as Python writes it in
    a string (``\\r``, ``\\x1b``): a log line stays one line, puts no escape
    sequence on the terminal that shows it, and ``grep`` still finds it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def spreadsheet_text(value: object) -> object:
    """A CSV cell a spreadsheet shows as text, never runs and never turns
    into a number: a string that starts with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return, or that reads as a number, gets a leading
    ``'`` (the caller ID ``+34600111222`` is written ``'+34600111222``,
    ``600111222`` is written ``'600111222``); so does one that starts with
    ``'`` itself, so that dropping one leading ``'`` gives every cell back.
    The text is judged as the spreadsheet reads it, without the NULs it
    drops. Numbers and other values are returned as they are."""
    if not isinstance(value, str) or not value or value[0] in SAFE_START:
        return value
    shown = value.replace(_DROPPED, "") if _DROPPED in value else value
    first = shown[:1]
    if first == "'" or (first and (first in _RISKY_START or first.isdigit() or first.isspace())
                        and (shown.startswith(FORMULA_START) or _NUMBER_LIKE.fullmatch(shown))):
        return "'" + value
    return value
