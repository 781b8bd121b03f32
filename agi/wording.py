"""How messages write a count (``1 entry``, ``2 entries``), an address
with its port, and what a path that is no file is. Imports nothing from agi, so any layer may use it."""
from __future__ import annotations

import stat


def counted(number: int, singular: str, plural: str = "") -> str:
    """``1 entry``, ``2 entries``: a count with its noun (``plural``: the
    singular with ``s`` when not given)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def endpoint(host: str, port: int) -> str:
    """``127.0.0.1:4573``, ``[::1]:4573``: an address and port as a URL writes them."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def file_kind(mode: int) -> str:
    """What a path that is no regular file is, in a few words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "no regular file"
