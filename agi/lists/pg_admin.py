"""Changing number lists on PostgreSQL: ``ListAdmin`` with the statements
that differ there. An import streams the file into a temporary table with
``COPY`` (no lock on anything shared), then one transaction copies it into
the list in key order (the first line of a number wins) and points the list
at its entries; a replace writes them under a fresh id first, so that every
node reads the whole old list or the whole new one. Changes take a
transaction-level advisory lock, so list writers take turns as on SQLite.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

from agi.db import postgres as pg
from agi.db.postgres_params import pyformat
from agi.db.transactions import rollback
from agi.db import postgres_sql as pgsql
from agi.db.location import PostgresUrl
from agi.lists import admin as list_admin
from agi.lists.admin import ListAdmin, _counted
from agi.lists.store import READ_BUSY_TIMEOUT_MS

#: Memory PostgreSQL may use to sort an import before it spills to disk.
IMPORT_WORK_MEM = "256MB"


class PostgresListAdmin(ListAdmin):
    """``ListAdmin`` on the PostgreSQL database at ``url``, whose schema
    is current (agi.storage.migrations: the caller upgrades it)."""

    def __init__(self, url: PostgresUrl, clock: Callable[[], float] = time.time, *,
                 read_only: bool = False) -> None:
        self.path = url  # type: ignore[assignment]  # named in messages
        self.url = url
        self.clock = clock
        self.conn = pg.Connection(pg.connect(  # type: ignore[assignment]
            url, application_name="agiflow lists",
            # as long as SQLite waits for its lock: a read only for WAL recovery
            lock_timeout_ms=READ_BUSY_TIMEOUT_MS if read_only else list_admin.WRITE_BUSY_TIMEOUT_MS))

    def _database_errors(self) -> tuple[type[Exception], ...]:
        return (pg.Connection.Error,)

    def _has_lists(self) -> bool:
        return bool(self.conn.execute(pgsql.HAS_LISTS).fetchone()[0])

    def _new_id(self, name: str) -> int:
        return int(self.conn.execute(pgsql.NEW_ID, (name, self._now())).fetchone()[0])

    def entries(self, name: str) -> Iterator[tuple[str, str | None, int]]:
        """Read through a server-side cursor: an export of millions of
        entries never sits in memory. A list that does not exist is an
        error here, before any row is asked for (as on SQLite), so an
        export fails before it opens its output."""
        return self._entries(self._list_id(name))

    def _entries(self, list_id: int) -> Iterator[tuple[str, str | None, int]]:
        raw = self.conn.raw  # type: ignore[attr-defined]
        with raw.transaction(), raw.cursor(name="agiflow_export") as cursor:
            cursor.itersize = 10_000
            cursor.execute(pyformat("SELECT number, note, added_at FROM list_entries "
                                       "WHERE list_id = ? ORDER BY number"), (list_id,))
            yield from cursor

    def _stage(self, rows: Iterable[tuple[str, str | None]]) -> int:
        """COPY ``rows`` into the session's temporary table, in file order."""
        self.conn.execute(pgsql.STAGING_CREATE)
        self.conn.execute(pgsql.STAGING_CLEAR)
        read = [0]
        raw = self.conn.raw  # type: ignore[attr-defined]
        with raw.cursor() as cursor, cursor.copy(pgsql.STAGING_COPY_IN) as copy:
            for row in _counted(rows, read):
                copy.write_row(row)
        return read[0]

    def _staged_prefix_lengths(self) -> Iterable[Any]:
        return self.conn.execute(pgsql.STAGED_PREFIX_LENGTHS)

    def _clear_staging(self) -> None:
        self.conn.execute(pgsql.STAGING_CLEAR)

    def _purge(self, list_id: int) -> None:
        """Remove the entries stored under ``list_id``, a chunk per
        transaction, by row address (``pgsql.PURGE_CHUNK``)."""
        while True:
            with self._transaction():
                removed = self.conn.execute(pgsql.PURGE_CHUNK, (list_id, list_id, list_admin.PURGE_CHUNK)).rowcount
            if removed < list_admin.PURGE_CHUNK:
                return

    def _copy_sql(self) -> str:
        self.conn.execute(f"SET LOCAL work_mem = '{IMPORT_WORK_MEM}'")
        return pgsql.STAGING_COPY

    def _after_import(self) -> None:
        """Fresh statistics of the entries, so that the very next lookups
        are planned as one index probe each (PostgreSQL recycles its WAL by
        itself). Without them, until autovacuum analyzes the table (never,
        when it is off), the planner guessed hundreds of rows per number and
        chose a bitmap scan: a lookup in 50 million entries took twice as
        long. ANALYZE reads a sample of fixed size: about 2 s at 50 million.
        The import has committed by then: ANALYZE waits for a vacuum of the
        table however long it takes, rather than fail an import that is done."""
        with self.conn.raw.transaction():  # type: ignore[attr-defined]
            self.conn.execute("SET LOCAL lock_timeout = 0")
            self.conn.execute("ANALYZE list_entries")

    def _transaction(self, begin: str = "BEGIN IMMEDIATE") -> "_Locked":
        return _Locked(self.conn, begin)


class _Locked:
    """``with``: BEGIN, the list writers' lock for a write transaction, ...
    COMMIT, or ROLLBACK on any exception."""

    def __init__(self, conn: Any, begin: str) -> None:
        self.conn = conn
        self.begin = begin

    def __enter__(self) -> None:
        self.conn.execute("BEGIN")
        if self.begin == "BEGIN IMMEDIATE":
            self.conn.execute(pgsql.LOCK_LISTS)

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.conn.execute("COMMIT")
        else:  # not on a connection the server ended: its error is the one to tell
            rollback(self.conn)
