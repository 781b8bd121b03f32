"""Another connection holding a database lock for a while, as another
node's write or a report would: the waits of the stores are checked
against it."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from agi.db.location import PostgresUrl


def hold_lock(database: Path | str | PostgresUrl, seconds: float, row_lock: str = "",
              sqlite_begin: str = "BEGIN IMMEDIATE") -> threading.Thread:
    """A thread holding a lock for ``seconds``, started once it holds it:
    on SQLite the one ``sqlite_begin`` takes (``BEGIN IMMEDIATE``: the
    write lock; ``BEGIN EXCLUSIVE`` keeps the readers of a database in
    rollback-journal mode out too), on PostgreSQL the rows ``row_lock``
    selects FOR UPDATE."""
    holding = threading.Event()

    def hold() -> None:
        conn: Any
        if isinstance(database, PostgresUrl):
            conn = psycopg.connect(str(database), autocommit=True)
            conn.execute("BEGIN")
            conn.execute(row_lock)
        else:
            conn = sqlite3.connect(str(database), isolation_level=None)
            conn.execute(sqlite_begin)
        holding.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    return thread
