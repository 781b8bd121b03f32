"""A CDR sink that writes each row at once, on the calling thread.

The plain AGI mode (``agiflow-agi``) runs one call per process: there is no
reactor to keep responsive, so rows go straight to SQLite with the same
statements and columns as the server's writer thread. Several processes
(and the server) may share one database: WAL and a busy timeout let them
take turns. A write that still fails is kept and retried with the next one;
rows that cannot be written by the end of the call are logged in full, so
a locked database delays or loses nothing silently.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlite_utils

from agi.db import postgres as pg
from agi.db.location import PostgresUrl
from agi.storage import connections
from agi.storage.callbacks import lock_missed_numbers, write_statement
from agi.db.sqlite_files import WRITER_PRAGMAS, attribute_problem, give_back_space, is_disk_full
from agi.db.caps import valid_text
from agi.storage.cdr_schema import INSERT_CALL, INSERT_STEP, call_values, ensure_schema, step_values, update_call_sql
from agi.storage.migrations import upgrade

#: How long one write may run on PostgreSQL before it is given up (and retried with the next).
STATEMENT_TIMEOUT_MS = 2000
#: How long a write during the call waits for a lock (another writer's
#: batch takes milliseconds): the caller hears nothing while it waits, and a
#: write that waited the whole busy timeout at every step (a lock held by a
#: long transaction elsewhere) once left 5 s of silence after each step
#: (2 s, the statement timeout, on PostgreSQL).
#: The rows are kept for the next write; the last one, as the call ends,
#: waits the whole busy timeout.
CALL_BUSY_TIMEOUT = 0.2

log = logging.getLogger("agiflow.cdr")

Operation = tuple[str, str, Any]


class DirectCdr:
    """Writes CDR rows to the database at ``path`` (a SQLite file or a
    PostgreSQL URL) as they happen."""

    def __init__(self, path: str | Path | PostgresUrl, *, busy_timeout: float = 5.0) -> None:
        self.url = path if isinstance(path, PostgresUrl) else None
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.pending: list[Operation] = []
        self.written = 0
        self._conn: Any = None
        self._waits = busy_timeout  # how long a write waits for a lock now (SQLite's busy timeout)

    def open(self) -> None:
        """Create the schema if it is missing. Unlike the server, never marks
        other calls interrupted: other processes may be running theirs."""
        if self.url is not None:
            upgrade(self.url, online_only=True)
            self._conn = pg.Connection(pg.connect(self.url, statement_timeout_ms=STATEMENT_TIMEOUT_MS,
                                                  application_name="agiflow-agi"))
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            db = sqlite_utils.Database(self.path)
            try:
                ensure_schema(db)
                break
            except sqlite3.OperationalError:
                if attempt == 2:  # another process creating the same tables at this moment
                    raise
                time.sleep(0.05 * (attempt + 1))
            finally:
                db.close()
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        for pragma in WRITER_PRAGMAS:
            self._conn.execute(pragma)

    def call_started(self, row: dict[str, Any]) -> None:
        self._write(("insert_call", INSERT_CALL, call_values(row)))

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        self._write(("insert_step", INSERT_STEP, step_values(call, step)))

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        self._write(("update_call", update_call_sql(tuple(values)), (*values.values(), call)))

    def submit(self, operation: str, arg: Any) -> None:
        """Other named writes to the same database: callback requests."""
        self._write((operation, *write_statement(operation, arg)))

    def close(self) -> bool:
        """Try once more to write what is pending, waiting up to the busy
        timeout for SQLite's lock; True when nothing is lost."""
        self._flush(self.busy_timeout)
        for name, sql, params in self.pending:
            log.error("CDR operation not written: %s %s %s", name, sql, json.dumps(params, default=str, sort_keys=True))
        if self._conn is not None and not attribute_problem(self.path):  # closing writes to the -shm
            self._conn.close()
        self._conn = None
        return not self.pending

    def _write(self, operation: Operation) -> None:
        self.pending.append(operation)
        self._flush(min(CALL_BUSY_TIMEOUT, self.busy_timeout))

    def _flush(self, wait: float) -> None:
        """Write every pending operation in one transaction, or keep them all
        while the database is locked (``wait`` seconds at most, on SQLite)
        or unwritable. An operation that can never be applied (a bug, not
        the database) is logged and dropped."""
        if not self.pending or self._conn is None:
            return
        problem = attribute_problem(self.path)
        if problem:  # not touched (agi.db.sqlite_files)
            log.error("cannot write %d CDR operations yet (%s); retrying with the next one", len(self.pending), problem)
            return
        conn = self._conn
        if wait != self._waits:  # PostgreSQL: its statement timeout caps the wait too
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}" if self.url is None
                         else f"SET lock_timeout = {int(wait * 1000)}")
            self._waits = wait
        applied: list[Operation] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            lock_missed_numbers(conn, [(name, params) for name, _, params in self.pending])
            for operation in self.pending:
                if _apply(conn, operation):
                    applied.append(operation)
            conn.execute("COMMIT")
        except connections.ERRORS as exc:
            try:
                if conn.in_transaction and not (self.url is None and attribute_problem(self.path)):
                    conn.execute("ROLLBACK")
            except connections.ERRORS:
                pass
            if isinstance(exc, sqlite3.Error) and is_disk_full(exc):
                give_back_space(conn)
            log.error("cannot write %d CDR operations yet (%s); retrying with the next one",
                      len(self.pending), connections.one_line(exc))
            return
        self.written += len(applied)
        self.pending = []


def _apply(conn: Any, operation: Operation) -> bool:
    name, sql, params = operation
    conn.execute("SAVEPOINT one")
    try:
        try:
            cursor = conn.execute(sql, params)
        except connections.TEXT_ERRORS:  # a lone surrogate ("\ud800" from a webhook's JSON), a NUL
            if (valid := valid_text(params)) == params:
                raise
            cursor = conn.execute(sql, valid)
    except connections.ERRORS as exc:
        if connections.trouble(exc):
            raise
        conn.execute("ROLLBACK TO one")
        log.error("dropping CDR operation %s (%s): %s", name, exc, json.dumps(params, default=str, sort_keys=True))
        return False
    conn.execute("RELEASE one")
    if name == "update_call" and cursor.rowcount == 0:
        log.error("dropping CDR operation %s: no calls row with id %r", name, params[-1])
        return False
    return True
