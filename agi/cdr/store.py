"""The CDR writer: calls hand it rows, one thread writes them.

The reactor never waits on SQLite: ``call_started``, ``step_finished``,
``call_ended`` and ``submit`` (other named writes to the same database, such
as callback requests) only put work on a queue. A single writer thread drains the
queue in batches, one transaction each, with plain parameterised SQL. When the database is locked or
unwritable the batch is kept and retried, so CDRs are delayed, not lost.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import sqlite_utils

from agi.cdr.callbacks import INSERT_OPERATION, insert_callback
from agi.cdr.schema import (CALL_COLUMNS, INSERT_CALL, INSERT_STEP, STEP_COLUMNS, ensure_schema,
                            mark_interrupted, update_call_sql)

log = logging.getLogger("agiflow.cdr")

_STOP = ("stop", None)


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp (millisecond precision)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


class CdrStore:
    """Writes CDRs to the SQLite file at ``path`` from a background thread."""

    def __init__(self, path: str | Path, *, batch_size: int = 500, retry_delay: float = 1.0,
                 busy_timeout: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self.clock = clock
        self.written = 0
        self.failures = 0
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def open(self) -> int:
        """Create the schema and mark calls left running by a previous server
        as interrupted; returns how many were."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(self.path)
        try:
            ensure_schema(db)
            return mark_interrupted(db, iso(self.clock()) or "")
        finally:
            db.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def call_started(self, row: dict[str, Any]) -> None:
        self._queue.put(("insert_call", row))

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        self._queue.put(("insert_step", {"call": call, **step}))

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        self._queue.put(("update_call", (call, values)))

    def submit(self, operation: str, arg: Any) -> None:
        """Queue one named write (a key of ``OPERATIONS``) on the same
        thread and transactions as the CDRs: ``close`` writes it too."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown write operation {operation!r}; known: {', '.join(OPERATIONS)}")
        self._queue.put((operation, arg))

    def close(self, stall_timeout: float = 30.0) -> bool:
        """Write everything queued, then stop the thread.

        Waits as long as the writer makes progress; gives up only when
        nothing could be written for ``stall_timeout`` seconds (the database
        stays locked or unwritable), logging how many operations are lost.
        """
        if self._thread is None:
            return True
        self._queue.put(_STOP)
        written = self.written
        while self._thread.is_alive():
            self._thread.join(stall_timeout)
            if self.written == written and self._thread.is_alive():
                log.error("CDR writer made no progress for %.0fs; %d operations unwritten",
                          stall_timeout, self.pending)
                self._thread = None
                return False
            written = self.written
        self._thread = None
        return True

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = _STOP in batch
            self._write_until_done(conn, [item for item in batch if item != _STOP])
        conn.close()

    def _write_until_done(self, conn: sqlite3.Connection, batch: list[tuple[str, Any]]) -> None:
        """One transaction per batch; on a database error keep the batch and retry."""
        while batch:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for op, arg in batch:
                    _apply(conn, op, arg)
                conn.execute("COMMIT")
                self.written += len(batch)
                return
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self.failures += 1
                log.error("cannot write %d CDR operations (%s); retrying in %.1fs", len(batch), exc, self.retry_delay)
                time.sleep(self.retry_delay)


def _insert_call(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    conn.execute(INSERT_CALL, {column: row.get(column) for column in CALL_COLUMNS})


def _insert_step(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    conn.execute(INSERT_STEP, {column: row.get(column) for column in STEP_COLUMNS if column != "id"})


def _update_call(conn: sqlite3.Connection, arg: tuple[str, dict[str, Any]]) -> None:
    call, values = arg
    cursor = conn.execute(update_call_sql(list(values)), {**values, "id": call})
    if cursor.rowcount == 0:
        raise LookupError(f"no calls row with id {call!r}")


def _apply(conn: sqlite3.Connection, op: str, arg: Any) -> None:
    """Apply one operation; a row that cannot be applied (a bug, not a
    database problem) is logged and dropped so it cannot block the rest."""
    try:
        OPERATIONS[op](conn, arg)
    except sqlite3.OperationalError:
        raise
    except Exception:  # noqa: BLE001 - keep the writer alive for every other call
        log.exception("dropping CDR operation %s: %r", op, arg)


#: Every write the writer thread knows, by name.
OPERATIONS: dict[str, Callable[[sqlite3.Connection, Any], None]] = {
    "insert_call": _insert_call, "insert_step": _insert_step, "update_call": _update_call,
    INSERT_OPERATION: insert_callback,
}
