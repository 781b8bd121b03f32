"""A database connection per thread, for the stores that several threads
read at once (overrides, supervisors, call history): SQLite and psycopg
connections are not shared between threads."""
from __future__ import annotations

import sqlite3
import threading
from typing import Any, Callable, Generic, TypeVar

import psycopg

C = TypeVar("C")


class PerThread(Generic[C]):
    """This thread's connection, opened by ``open`` on first use. ``state``
    holds what else a store keeps per connection; it is cleared with it."""

    def __init__(self, open_connection: Callable[[], C]) -> None:
        self._open = open_connection
        self.state: Any = threading.local()

    def get(self) -> C:
        conn: C | None = getattr(self.state, "conn", None)
        if conn is None:
            conn = self.state.conn = self._open()
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next ``get`` opens another);
        a connection that fails to close is dropped all the same."""
        conn = getattr(self.state, "conn", None)
        self.state.__dict__.clear()
        if conn is not None:
            try:
                conn.close()
            except (sqlite3.Error, psycopg.Error):
                pass
