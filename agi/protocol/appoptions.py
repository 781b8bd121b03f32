"""Asterisk 22's syntax for an application's option letters, as
``ast_app_parse_options`` (``parse_options`` in main/app.c) reads them for
Dial, Queue, ChanSpy, Page, MeetMe... Pure functions: no I/O.

- each byte of the text is one option, read as its low seven bits
  (``*s++ & 0x7f``): a character outside ASCII is read as the letters of
  its bytes (the first byte of ``ƒ``, 0xC6, is the option ``F``; of a
  character from U+80000 on, 0xF2, the option ``r``);
- a ``(`` right after an option opens that option's argument, up to the
  matching ``)`` (a ``\\`` outside quotes is removed and keeps the
  character after it; an argument that starts with ``"`` may hold brackets
  inside quotes); any other ``(`` is itself an option, so ``(r)`` is the
  options ``(``, ``r`` and ``)``;
- an argument with no closing ``)`` ends the reading: the options before it
  stand, the one it belongs to and those after it are not read.
"""
from __future__ import annotations

_OPEN, _CLOSE, _QUOTE, _BACKSLASH = 0x28, 0x29, 0x22, 0x5C


def option_flags(text: str) -> dict[str, str]:
    """The options Asterisk reads from the option letters ``text``: each
    letter with its argument (``""`` when it has none), the last one given
    when a letter is given twice."""
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    flags: dict[str, str] = {}
    i = 0
    while i < len(data):
        letter = chr(data[i] & 0x7F)
        i += 1
        if i < len(data) and data[i] == _OPEN:
            argument, i = _argument(data, i + 1)
            if argument is None:  # "Missing closing parenthesis": nothing more is read
                break
            flags[letter] = argument
        else:
            flags[letter] = ""
    return flags


def _argument(data: bytearray, start: int) -> tuple[str | None, int]:
    """The argument that starts at ``start`` (after its ``(``), and where
    reading goes on after its ``)``; None when no ``)`` ends it. ``data``
    loses the quotes and backslashes Asterisk removes, as in main/app.c."""
    paren, quote = 1, False
    parse_quotes = start < len(data) and data[start] == _QUOTE
    i = start
    while i < len(data):
        byte = data[i]
        if byte == _OPEN and not quote:
            paren += 1
        elif byte == _CLOSE and not quote:
            paren -= 1
        elif byte == _QUOTE and parse_quotes:
            quote = not quote
            del data[i]
            i -= 1
        elif byte == _BACKSLASH:
            if not quote or (i + 1 < len(data) and data[i + 1] == _QUOTE):
                del data[i]  # the next character is kept as it is (skipped below)
            else:
                i += 1  # within quotes both characters stay
        if paren == 0:
            break
        i += 1
    close = data.find(_CLOSE, i) if i < len(data) else -1
    if close < 0:
        return None, len(data)
    return data[start:close].decode("utf-8", "replace"), close + 1
