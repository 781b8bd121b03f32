"""The CDR writer: calls hand it rows, one thread writes them.

The reactor never waits on SQLite: ``call_started``, ``step_finished``,
``call_ended`` and ``submit`` (other named writes to the same database, such
as callback requests) only append work to a list. A single writer thread wakes
when work arrives, lets more gather for ``flush_interval`` and writes it in
batches, one transaction each, with plain parameterised SQL: one wake-up for
many calls, so the writer hardly competes with the reactor for the GIL.

When the database is locked, read-only, full or gone, the batch is kept and
retried (reconnecting first, unless it is only locked), the trouble is logged
when it starts, every minute while it lasts and when it ends: CDRs are
delayed, never silently lost. After a disk-full error the WAL is
checkpointed and truncated, and the batch is written in halves, so the
writer recovers as soon as there is room again, on small disks too; while a
database file is immutable or append-only the writer does not touch it
(agi.storage.sqlite_files). The queue is bounded (agi.storage.cdr_admission).
``close`` says how many operations it could not write or had to drop.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import sqlite_utils

from agi.storage.callbacks import WRITES, apply_write
from agi.storage.cdr_admission import MAX_PENDING, Admission
from agi.storage.cdr_schema import (INSERT_CALL, INSERT_STEP, call_values, ensure_schema, mark_interrupted,
                            step_values, update_call_sql)
from agi.storage.sqlite_files import WRITER_PRAGMAS, attribute_problem, give_back_space, is_disk_full
from agi.vocabulary import iso

log = logging.getLogger("agiflow.cdr")

#: Errors after which the same connection is worth retrying: another
#: process holds the lock. Any other error reconnects before the retry.
_LOCKED = ("locked", "busy")
#: Seconds between reminders in the log while CDRs cannot be written.
REMIND_EVERY = 60.0


def connect(path: str) -> sqlite3.Connection:
    """The writer thread's connection: autocommit, transactions by hand."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


class CdrStore:
    """Writes CDRs to the SQLite file at ``path`` from a background thread."""

    def __init__(self, path: str | Path, *, batch_size: int = 500, retry_delay: float = 1.0,
                 busy_timeout: float = 5.0, flush_interval: float = 0.05, max_pending: int = MAX_PENDING,
                 clock: Callable[[], float] = time.time,
                 connector: Callable[[str], sqlite3.Connection] = connect) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self.flush_interval = flush_interval
        self.clock = clock
        self.connector = connector
        self.written = 0
        self.failures = 0
        self._queue: deque[tuple[str, Any]] = deque()
        self.admission = Admission(max_pending)
        self._in_flight = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._trouble: tuple[float, float, str] | None = None  # since, last logged, message

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
        """Operations not yet written: queued, or in the batch being written."""
        return len(self._queue) + self._in_flight

    def _put(self, operation: tuple[str, Any]) -> None:
        self._queue.append(operation)
        if not self._wake.is_set():
            self._wake.set()

    def call_started(self, row: dict[str, Any]) -> None:
        if self.admission.call_started(row.get("id"), self.pending):  # type: ignore[arg-type]
            self._put(("insert_call", row))

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        if self.admission.step_finished(call, self.pending):
            self._put(("insert_step", (call, step)))

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        if self.admission.call_ended(call, self.pending):
            self._put(("update_call", (call, values)))

    def submit(self, operation: str, arg: Any) -> None:
        """Queue one named write (a key of ``OPERATIONS``) on the same
        thread and transactions as the CDRs: ``close`` writes it too."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown write operation {operation!r}; known: {', '.join(OPERATIONS)}")
        if self.admission.other(self.pending):
            self._put((operation, arg))

    def close(self, stall_timeout: float = 30.0) -> bool:
        """Write everything queued, then stop the thread.

        Waits as long as the writer makes progress; gives up only when
        nothing could be written for ``stall_timeout`` seconds (the database
        stays locked or unwritable), logging how many operations are lost.
        False when anything is left unwritten, or was dropped because the
        queue was full.
        """
        if self._thread is None:
            return self.admission.report()
        self._stopping = True
        self._wake.set()
        written = self.written
        while self._thread.is_alive():
            self._thread.join(stall_timeout)
            if self.written == written and self._thread.is_alive():
                log.error("CDR writer made no progress for %.0fs; %d operations unwritten",
                          stall_timeout, self.pending)
                self._thread = None
                self.admission.report()
                return False
            written = self.written
        self._thread = None
        if self.pending:
            log.error("CDR writer stopped with %d operations unwritten", self.pending)
            self.admission.report()
            return False
        return self.admission.report()

    def _run(self) -> None:
        """Wake when work arrives, let more gather, write it all; until close."""
        conn: sqlite3.Connection | None = None
        try:
            while not (self._stopping and not self._queue):
                self._wake.wait()
                if not self._stopping:
                    time.sleep(self.flush_interval)
                self._wake.clear()
                while self._queue:
                    conn = self._write_until_done(conn, self._take_batch())
        except BaseException:  # noqa: BLE001 - say so: close() then reports what is left
            log.exception("CDR writer stopped")
        finally:
            if conn is not None and not attribute_problem(self.path):
                conn.close()

    def _take_batch(self) -> list[tuple[str, Any]]:
        batch: list[tuple[str, Any]] = []
        while self._queue and len(batch) < self.batch_size:
            batch.append(self._queue.popleft())
        self._in_flight = len(batch)
        return batch

    def _write_until_done(self, conn: sqlite3.Connection | None,
                          batch: list[tuple[str, Any]]) -> sqlite3.Connection | None:
        """One transaction per batch; on a database error keep the batch and
        retry (on a new connection unless the database is only locked). A
        batch a full disk refused is retried in halves, down to one operation."""
        size = len(batch)
        while batch:
            part = batch[:size]
            try:
                problem = attribute_problem(self.path)
                if problem:
                    raise FilesBlocked(f"{problem}: not touched until it is writable")
                if conn is None:
                    conn = self._connect()
                _commit(conn, part)
            except sqlite3.Error as exc:
                if is_disk_full(exc):
                    size = max(1, size // 2)
                conn = self._failed(conn, exc)
                time.sleep(self.retry_delay)
                continue
            batch = batch[len(part):]
            self.written += len(part)
            self._in_flight = len(batch)
        if self._trouble is not None:
            log.warning("CDR database writable again after %.0fs; delayed CDRs written",
                        time.monotonic() - self._trouble[0])
            self._trouble = None
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = self.connector(self.path)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        for pragma in WRITER_PRAGMAS:
            conn.execute(pragma)
        return conn

    def _failed(self, conn: sqlite3.Connection | None, exc: sqlite3.Error) -> sqlite3.Connection | None:
        """Roll back, say so (when the trouble starts, changes, and every
        REMIND_EVERY seconds), and drop the connection unless it is a lock."""
        self.failures += 1
        message = str(exc)
        now = time.monotonic()
        since, logged, before = self._trouble or (now, 0.0, "")
        if message != before or now - logged >= REMIND_EVERY:
            log.error("cannot write CDRs to %s (%s) for %.0fs; %d operations kept, retrying every %.1fs",
                      self.path, message, now - since, self.pending, self.retry_delay)
            logged = now
        self._trouble = (since, logged, message)
        if conn is None or isinstance(exc, FilesBlocked) or attribute_problem(self.path):
            return conn  # touching it (a rollback, a close) writes to a file that may be immutable
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if any(word in message for word in _LOCKED):
                return conn
            if is_disk_full(exc):
                give_back_space(conn)
            conn.close()
        except sqlite3.Error:
            pass
        return None


class FilesBlocked(sqlite3.OperationalError):
    """A file of the database is immutable or append-only: not touched."""


def _commit(conn: sqlite3.Connection, batch: list[tuple[str, Any]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    _apply_batch(conn, batch)
    conn.execute("COMMIT")


#: Errors that are the database's trouble (locked, read-only, full, corrupt),
#: not a bad row's: the batch is kept and retried.
_DATABASE_TROUBLE = (sqlite3.OperationalError, sqlite3.DatabaseError)


def _insert_call(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    conn.execute(INSERT_CALL, call_values(row))


def _insert_step(conn: sqlite3.Connection, arg: tuple[str, dict[str, Any]]) -> None:
    conn.execute(INSERT_STEP, step_values(*arg))


def _apply_batch(conn: sqlite3.Connection, batch: list[tuple[str, Any]]) -> None:
    """The batch's new call rows, then its step rows, one executemany each;
    then every other operation in order (an update always follows the
    insert of its row: same batch, or an earlier one).

    A call that starts and ends within the batch gets its final row in one
    insert: same transaction, same result as the insert and its update."""
    calls: list[dict[str, Any]] = []
    ends: dict[Any, dict[str, Any] | None] = {}  # call key -> its end values, if it ended in this batch
    steps: list[tuple[str, dict[str, Any]]] = []
    others = []
    for op, arg in batch:
        if op == "insert_step":
            steps.append(arg)
        elif op == "insert_call":
            calls.append(arg)
            ends[arg.get("id")] = None
        elif op == "update_call" and arg[0] in ends and ends[arg[0]] is None:
            ends[arg[0]] = arg[1]
        else:
            others.append((op, arg))
    if calls:
        rows = [(row, ends[row.get("id")]) for row in calls]
        _insert_many(conn, INSERT_CALL, [call_values({**row, **end} if end else row) for row, end in rows],
                     lambda: [op for row, end in rows for op in _queued_as(row, end)])
    if steps:
        _insert_many(conn, INSERT_STEP, [step_values(*arg) for arg in steps],
                     lambda: [("insert_step", arg) for arg in steps])
    for op, arg in others:
        _apply(conn, op, arg)


def _queued_as(row: dict[str, Any], end: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """A call row's operations as they were queued: its insert, and its update if merged."""
    return [("insert_call", row)] if end is None else [("insert_call", row), ("update_call", (row.get("id"), end))]


def _insert_many(conn: sqlite3.Connection, sql: str, params: list[tuple[Any, ...]],
                 operations: Callable[[], list[tuple[str, Any]]]) -> None:
    """All rows at once in a savepoint; when one row is bad, undo the group
    and apply its ``operations()`` one by one, so only the bad one is dropped."""
    conn.execute("SAVEPOINT many")
    try:
        conn.executemany(sql, params)
    except sqlite3.Error as exc:
        if type(exc) in _DATABASE_TROUBLE:
            raise
        conn.execute("ROLLBACK TO many")
        conn.execute("RELEASE many")
        for op, arg in operations():
            _apply(conn, op, arg)
        return
    conn.execute("RELEASE many")


def _update_call(conn: sqlite3.Connection, arg: tuple[str, dict[str, Any]]) -> None:
    call, values = arg
    cursor = conn.execute(_update_sql(tuple(values)), (*values.values(), call))
    if cursor.rowcount == 0:
        raise LookupError(f"no calls row with id {call!r}")


@lru_cache(maxsize=256)
def _update_sql(columns: tuple[str, ...]) -> str:
    """The UPDATE for these columns, built once: calls end with the same few sets."""
    return update_call_sql(columns)


def _apply(conn: sqlite3.Connection, op: str, arg: Any) -> None:
    """Apply one operation; a row that cannot be applied (a bug, not a
    database problem) is logged and dropped so it cannot block the rest."""
    try:
        OPERATIONS[op](conn, arg)
    except Exception as exc:  # noqa: BLE001 - keep the writer alive for every other call
        if type(exc) in _DATABASE_TROUBLE:
            raise
        log.exception("dropping CDR operation %s: %r", op, arg)


#: Every write the writer thread knows, by name.
OPERATIONS: dict[str, Callable[[sqlite3.Connection, Any], None]] = {
    "insert_call": _insert_call, "insert_step": _insert_step, "update_call": _update_call,
    **{operation: apply_write(operation) for operation in WRITES},
}
