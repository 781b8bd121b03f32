"""A database connection per thread, for the stores that several threads
read at once (overrides, supervisors, call history): SQLite and psycopg
connections are not shared between threads. A PostgreSQL connection the
server ended while it sat idle (a restart, a failover, an idle timeout)
is only found dead by the next statement sent on it: ``run`` then does
the work once more on a new one."""
from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any, Callable, Generic, TypeVar

import psycopg

from agi.db.sqlite_files import file_identity

C = TypeVar("C")
T = TypeVar("T")


class PerThread(Generic[C]):
    """This thread's connection, opened by ``open`` on first use. ``state``
    holds what else a store keeps per connection; it is cleared with it.
    With the ``sqlite_file`` it opens, a connection whose file was removed
    or replaced since (a backup put back, a database created again) is
    opened again on the file now at the path."""

    def __init__(self, open_connection: Callable[[], C], sqlite_file: str | os.PathLike[str] | None = None) -> None:
        self._open = open_connection
        self._sqlite_file = sqlite_file
        self.state: Any = threading.local()

    def get(self) -> C:
        conn: C | None = getattr(self.state, "conn", None)
        if conn is not None and self._sqlite_file is not None \
                and file_identity(self._sqlite_file) != getattr(self.state, "file", None):
            self.close()
            conn = None
        if conn is None:
            file = file_identity(self._sqlite_file) if self._sqlite_file is not None else None
            conn = self.state.conn = self._open()
            self.state.file = file
        return conn

    def run(self, work: Callable[[C], T]) -> T:
        """``work(connection)``; done once more on a new connection when this
        thread's PostgreSQL connection turns out dead, as one the server
        ended while it was idle does at its first statement. ``work`` must
        be whole or nothing (a read, or one transaction): what a dead
        connection was doing was not done. Any other error is raised."""
        conn = self.get()
        try:
            return work(conn)
        except psycopg.OperationalError:
            if not dead(conn):
                raise
        self.close()
        return work(self.get())

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


def dead(conn: Any) -> bool:
    """Whether a psycopg connection (or agiflow's wrapper of one) is lost."""
    raw = getattr(conn, "raw", conn)
    return isinstance(raw, psycopg.Connection) and bool(raw.closed or raw.broken)
