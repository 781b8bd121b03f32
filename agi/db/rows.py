"""Result rows read by position and by column name, as ``sqlite3.Row`` reads
them, for the PostgreSQL clients (psycopg and agi/db/libpq.py), and rows
read a batch at a time from a DB-API cursor."""
from __future__ import annotations

from typing import Any, Iterator


class Rows(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name, like ``sqlite3.Row``."""

    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)

    @classmethod
    def named(cls, names: tuple[str, ...]) -> type["Rows"]:
        """The class of the rows of one result, whose columns are ``names``."""
        return type("Row", (cls,), {"_names": names, "__slots__": ()})


def cursor_batches(cursor: Any, sql: str, params: Any, size: int,
                   errors: type[Exception] | tuple[type[Exception], ...]) -> Iterator[list[Any]]:
    """The rows of ``sql`` run on ``cursor``, ``size`` at a time; the cursor
    is closed after them (an error of ``errors`` as it closes is ignored:
    the connection went first, a read that failed half-way)."""
    try:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(size):
            yield batch
    finally:
        try:
            cursor.close()
        except errors:
            pass
