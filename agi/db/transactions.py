"""Ending a transaction that failed, on either backend."""
from __future__ import annotations

from typing import Any


def rollback(conn: Any) -> None:
    """Roll back ``conn``'s transaction when one is still open. SQLite ends
    it by itself on a full disk, an I/O error or a lack of memory, and a
    second ``ROLLBACK`` would raise `cannot rollback - no transaction is
    active` in place of the error that ended it."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
