"""Asterisk's own reading of an AGI command line, as a pure function.

A line-by-line port of ``parse_args`` in res_agi.c: space and tab separate
words; ``"`` toggles quoting and, when it follows whitespace, starts a new
word (so ``""`` is an empty argument); ``\\`` makes the next character
literal. The line is a C string, so it ends at the first NUL. Asterisk keeps
at most 127 words and drops the rest. Tests use it to check that what we send
means to Asterisk exactly what we meant.
"""
from __future__ import annotations

#: res_agi.c MAX_ARGS is 128, one slot of which ends argv.
MAX_WORDS = 127


def parse_args(line: str) -> list[str]:
    """Split one command line into argv the way res_agi.c does."""
    words: list[str] = []
    quoted = escaped = False
    whitespace = True
    for char in line.split("\x00", 1)[0]:
        if char == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                # C starts a word here without checking MAX_ARGS (an
                # overflow); we drop it like the other extra words.
                if len(words) < MAX_WORDS:
                    words.append("")
                    whitespace = False
            continue
        if char in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if char == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            if len(words) >= MAX_WORDS:
                continue  # "Too many arguments, truncating"
            words.append("")
            whitespace = False
        words[-1] += char
        escaped = False
    return words
