"""Result rows read by position and by column name, as ``sqlite3.Row`` reads
them, for the PostgreSQL clients (psycopg and agi/db/libpq.py)."""
from __future__ import annotations

from typing import Any


class Rows(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name, like ``sqlite3.Row``."""

    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)
