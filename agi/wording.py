"""How messages write a count (``1 entry``, ``2 entries``) and what a path
that is no file is. Imports nothing from agi, so any layer may use it."""
from __future__ import annotations

import stat


def counted(number: int, singular: str, plural: str = "") -> str:
    """``1 entry``, ``2 entries``: a count with its noun (``plural``: the
    singular with ``s`` when not given)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def file_kind(mode: int) -> str:
    """What a path that is no regular file is, in a few words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "no regular file"
