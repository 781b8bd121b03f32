"""Rows put straight into (and read straight out of) agiflow's tables on
either backend, for the tests of the stores that read them: the schema is
brought up to date first, as ``agiflow serve`` does."""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from agi.db import postgres as pg
from agi.db.location import Database, PostgresUrl
from agi.storage.migrations import upgrade


def _connect(database: Database) -> Any:
    if isinstance(database, PostgresUrl):
        conn = pg.Connection(pg.connect(database))
        conn.raw.row_factory = pg.row_factory
        return conn
    conn = sqlite3.connect(Path(database), isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def insert(database: Database, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each its own columns) into ``table`` of ``database``."""
    upgrade(database)
    with contextlib.closing(_connect(database)) as conn:
        conn.execute("BEGIN")
        for row in rows:
            names = ", ".join(row)
            conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + c for c in row)})", dict(row))
        conn.execute("COMMIT")


def execute(database: Database, sql: str, params: Any = ()) -> None:
    """One statement (SQLite's parameters) on ``database``."""
    with contextlib.closing(_connect(database)) as conn:
        conn.execute(sql, params)


def select(database: Database, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    """The rows ``sql`` reads from ``database``, as dicts."""
    with contextlib.closing(_connect(database)) as conn:
        return [{key: row[key] for key in row.keys()} for row in conn.execute(sql, params).fetchall()]


@contextlib.contextmanager
def write_locked(database: Database, table: str) -> Iterator[None]:
    """``table`` locked against writes by another connection for the length
    of a with block: SQLite's write lock (the whole file), PostgreSQL's
    EXCLUSIVE lock (reads go on)."""
    conn = _connect(database)
    try:
        if isinstance(database, PostgresUrl):
            conn.execute("BEGIN")
            conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        else:
            conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()
