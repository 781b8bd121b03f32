"""What the stores' writers need of either backend: a connection that
takes SQLite's statements (a ``sqlite3`` one, or ``agi.db.postgres.Connection``),
and whether an error is the database's trouble (keep the work, retry) or a
bad row's (drop it, log it)."""
from __future__ import annotations

import sqlite3
from typing import Any, Callable

import psycopg

from agi.db import postgres as pg
from agi.db.location import Database, PostgresUrl

#: Every error a database call can raise, on either backend.
ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)
#: What a row whose text the database cannot store raises: a lone
#: surrogate (no UTF-8 for it), a NUL on PostgreSQL. Written again through
#: ``agi.db.caps.valid_text``.
TEXT_ERRORS: tuple[type[Exception], ...] = (UnicodeEncodeError, psycopg.DataError)
#: Errors that are SQLite's trouble (locked, read-only, full, corrupt), not a bad row's.
_SQLITE_TROUBLE = (sqlite3.OperationalError, sqlite3.DatabaseError)
#: How long the CDR writer lets one PostgreSQL statement run.
WRITER_STATEMENT_TIMEOUT_MS = 30_000


def trouble(exc: BaseException) -> bool:
    """The database's trouble: the same work may succeed later."""
    if isinstance(exc, sqlite3.Error):
        return type(exc) in _SQLITE_TROUBLE
    return pg.trouble(exc)


def one_line(exc: BaseException) -> str:
    return pg.one_line(exc)


def writer_connector(database: Database, busy_timeout: float) -> Callable[[str], Any]:
    """Opens the CDR writer's connection (autocommit: transactions by hand)."""
    if isinstance(database, PostgresUrl):
        url = database

        def connect_pg(_: str) -> pg.Connection:
            return pg.Connection(pg.connect(url, statement_timeout_ms=WRITER_STATEMENT_TIMEOUT_MS,
                                            application_name="agiflow cdr-writer"))
        return connect_pg

    def connect_sqlite(path: str) -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    return connect_sqlite


def prepare_writer(conn: Any, busy_timeout: float) -> None:
    """A new writer connection's settings: SQLite waits ``busy_timeout``
    for a lock and does not sync every batch (WAL)."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")
