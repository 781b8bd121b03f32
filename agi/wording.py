"""How messages write a count: ``1 entry``, ``2 entries``. Imports nothing
from agi, so any layer may use it."""
from __future__ import annotations


def counted(number: int, singular: str, plural: str = "") -> str:
    """``1 entry``, ``2 entries``: a count with its noun (``plural``: the
    singular with ``s`` when not given)."""
    return f"{number} {singular if number == 1 else plural or singular + 's'}"
