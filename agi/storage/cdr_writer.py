"""The CDR writer: calls hand it rows, one thread writes them, to SQLite
or PostgreSQL.

The reactor never waits on the database: ``call_started``, ``step_finished``,
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
(agi.db.sqlite_files). The queue is bounded (agi.storage.cdr_admission).
``close`` says how many operations it could not write or had to drop.
With ``rollups`` (the reports' thresholds), it also keeps the reports'
rollups up to date every ``roll_every`` seconds (agi/storage/rollups.py).

With a ``journal`` (``agiflow serve``), operations wait in memory only
while the database takes writes (at most ``max_queue`` of them): once a
write fails, the batch and everything behind it move to the journal file
(agi/storage/journal.py), later ones follow them there until the database
has taken them all, and ``close`` moves what it cannot write there, for
the next start. A process killed during an outage so loses none of them. Every write is idempotent, so a batch
retried after a commit that was not acknowledged, or a journal replayed
twice, writes nothing twice (docs/database.md).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from agi.db.location import Database, PostgresUrl, parse_database
from agi.db.per_thread import dead
from agi.storage import connections, rollups
from agi.storage.cdr_admission import MAX_PENDING, Admission
from agi.storage.cdr_batch import OPERATIONS, RowAborted, apply_batch
from agi.storage.call_measures import Thresholds
from agi.storage.cdr_schema import mark_interrupted
from agi.storage.cdr_waiting import Waiting
from agi.storage.journal import Journal
from agi.storage.migrations import upgrade
from agi.db.sqlite_files import WRITER_PRAGMAS, attribute_problem, file_identity, give_back_space, is_disk_full
from agi.vocabulary import iso

log = logging.getLogger("agiflow.cdr")

#: Errors after which the same connection is worth retrying: another
#: process holds the lock. Any other error reconnects before the retry.
_LOCKED = ("locked", "busy")
#: Seconds between reminders in the log while CDRs cannot be written.
REMIND_EVERY = 60.0
#: Operations that wait in memory, with a journal, before the next go to it.
MAX_QUEUE = 10_000
#: Seconds between two rounds of rolling up (``rollups``).
ROLL_EVERY = 60.0


def connect(path: str) -> sqlite3.Connection:
    """The writer thread's connection: autocommit, transactions by hand."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


class CdrStore:
    """Writes CDRs to the database at ``path`` (a SQLite file or a
    PostgreSQL URL) from a background thread."""

    def __init__(self, path: str | Path | PostgresUrl, *, batch_size: int = 500, retry_delay: float = 1.0,
                 busy_timeout: float = 5.0, flush_interval: float = 0.05, max_pending: int = MAX_PENDING,
                 clock: Callable[[], float] = time.time,
                 connector: Callable[[str], Any] | None = None,
                 journal: str | Path | None = None, max_queue: int = MAX_QUEUE,
                 rollups: Thresholds | None = None, roll_every: float = ROLL_EVERY) -> None:
        self.database: Database = parse_database(path) if isinstance(path, str) else path
        self.path = str(path)
        self.sqlite = not isinstance(self.database, PostgresUrl)
        self.busy_timeout = busy_timeout
        self.connector = connector or connections.writer_connector(self.database, busy_timeout)
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        self.flush_interval = flush_interval
        self.clock = clock
        self.written = 0
        self.failures = 0
        self.admission = Admission(max_pending)
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._trouble: tuple[float, float, str] | None = None  # since, last logged, message
        self.waiting = Waiting(Journal(journal) if journal is not None else None, max_queue,
                               in_trouble=lambda: self._trouble is not None, remind=self._remind)
        self.rollups = rollups
        self.roll_every = roll_every
        self._next_roll = 0.0
        #: SQLite: the file the connection writes to, and the rows of the calls
        #: written there that have not ended (to write again in a new file).
        self._file: tuple[int, int] | None = None
        self._open_calls: dict[Any, dict[str, Any]] = {}
        self._write_again = False
        #: The ``-wal`` and ``-shm`` files of the file written (SQLite), once it has written there.
        self._wal_files: tuple[tuple[int, int] | None, tuple[int, int] | None] | None = None

    def open(self, node: str | None = None, worker: int | None = None) -> int:
        """Bring the schema up to date (migrations that are safe while other
        servers run), write what a previous run left in the journal (a
        database error here is raised: not starting), and mark calls left
        running by a previous server as interrupted (only those of ``node``,
        or of its ``worker``: see ``mark_interrupted``); returns how many were."""
        upgrade(self.database, online_only=True, clock=self.clock)
        if self.sqlite:
            self._file = file_identity(self.path)
        if self.journal is not None and self.journal.open():
            log.warning("writing %d CDR operations a previous run left in the journal %s",
                        self.journal.lines, self.journal.path)
            conn = self._replay_journal(None, retry=False)
            if conn is not None and conn is not _GAVE_UP:
                conn.close()
        self._write_left_starts()
        conn = connections.writer_connector(self.database, self.busy_timeout)(self.path)
        connections.prepare_writer(conn, self.busy_timeout)
        try:
            return mark_interrupted(conn, iso(self.clock()) or "", node, worker)
        finally:
            conn.close()

    def _write_left_starts(self) -> None:
        """Write the first rows of the calls a previous run started and was
        killed before writing (agi/storage/cdr_starts.py); a database error
        is raised (not starting). Marked interrupted next, as its other calls."""
        starts = self.waiting.starts
        left = starts.open() if starts is not None else []
        if starts is None or not starts.recorded:
            return
        if left:
            log.warning("writing the rows of %d calls a previous run started but had not written (%s)",
                        len(left), starts.path)
        conn = None
        for first in range(0, len(left), self.batch_size):
            conn = self._write_until_done(conn, left[first:first + self.batch_size], journaled=True, retry=False)
        if conn is not None and conn is not _GAVE_UP:
            conn.close()
        starts.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cdr-writer", daemon=True)
        self._thread.start()

    @property
    def journal(self) -> Journal | None:
        return self.waiting.journal

    @property
    def pending(self) -> int:
        """Operations not yet written: queued, held after the journal, or in the batch being written."""
        return self.waiting.count

    @property
    def running(self) -> bool:
        """The writer thread is alive (started and not stopped or crashed)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def trouble(self) -> str | None:
        """Why the last batch could not be written, while the writer keeps
        retrying it; None when the last write succeeded."""
        trouble = self._trouble
        return None if trouble is None else trouble[2]

    def _put(self, operation: tuple[str, Any]) -> None:
        self.waiting.put(operation)
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
            return self.waiting.close_journal() and self.admission.report()
        self._stopping = True
        self._wake.set()
        written = self.written
        while self._thread.is_alive():
            self._thread.join(stall_timeout)
            if self.written == written and self._thread.is_alive():
                log.error("CDR writer made no progress for %.0fs; %d operations unwritten",
                          stall_timeout, self.pending)
                self._thread = None
                return self.waiting.keep_for_next_start() and self.admission.report()
            written = self.written
        self._thread = None
        if self.pending:
            log.error("CDR writer stopped with %d operations unwritten", self.pending)
            return self.waiting.keep_for_next_start() and self.admission.report()
        return self.waiting.close_journal() and self.admission.report()

    def _run(self) -> None:
        """Wake when work arrives, let more gather, write it all; until close."""
        conn: Any = None
        try:
            while not (self._stopping and not self.waiting.memory and not self.waiting.held
                       and not self.waiting.journal_waiting()):
                woke = self._wake.wait(self.roll_every if self.rollups is not None else None)
                if woke and not self._stopping:
                    time.sleep(self.flush_interval)
                self._wake.clear()
                while self.waiting.memory and conn is not _GAVE_UP:
                    conn = self._write_until_done(conn, self.waiting.take_batch(self.batch_size))
                if conn is not _GAVE_UP:
                    self.waiting.forget_starts()
                if conn is not _GAVE_UP and self.waiting.journal_waiting():
                    conn = self._replay_journal(conn)
                if conn is _GAVE_UP:
                    conn = None
                    return
                conn = self._roll(conn)
        except BaseException:
            log.exception("CDR writer stopped")
        finally:
            if conn is not None and not self._blocked():
                conn.close()

    def _roll(self, conn: Any) -> Any:
        """Every ``roll_every`` seconds, while the database takes writes,
        roll up the pending quarter hours that have ended
        (agi/storage/rollups.py), a day of them per transaction, going on
        with a backlog while no CDR waits. A failure is logged and left to
        the next round: reports count those calls from the calls table."""
        now = self.clock()
        if self.rollups is None or now < self._next_roll or self._trouble is not None or self._blocked():
            return conn
        self._next_roll = now + self.roll_every
        before = rollups.quarter_floor(datetime.fromtimestamp(now, timezone.utc))
        try:
            if conn is None:
                conn = self._connect()
            while True:
                rolled, left = rollups.roll(conn, self.rollups, postgres=not self.sqlite, before=before)
                if not rolled or not left or self.waiting.memory or self._stopping:
                    break
        except Exception as exc:  # rollups only speed reports up: never a reason to stop writing CDRs
            log.warning("rollups not brought up to date (%s): reports count those calls from the calls table; "
                        "trying again in %.0fs", connections.one_line(exc), self.roll_every,
                        exc_info=not isinstance(exc, connections.ERRORS))
            if conn is not None:
                try:
                    conn.close()
                except connections.ERRORS:
                    pass
            return None
        return conn

    def _blocked(self) -> str | None:
        """Why the SQLite files must not be touched now (agi.db.sqlite_files)."""
        return attribute_problem(self.path) if self.sqlite else None

    def _replay_journal(self, conn: Any, retry: bool = True) -> Any:
        """Write the journal's operations in order, a batch per transaction,
        then empty it. New operations follow it into the file meanwhile."""
        assert self.journal is not None
        offset = 0
        for batch, end in self.journal.batches(self.batch_size):
            offset = end
            conn = self._write_until_done(conn, batch, journaled=True, retry=retry)
            if conn is _GAVE_UP:
                return conn
        if self.journal.clear_if_done(offset) and self.waiting.journal_written():
            self._wake.set()  # what it could not take follows it through memory
        return conn

    def _write_until_done(self, conn: Any, batch: list[tuple[str, Any]], journaled: bool = False,
                          retry: bool = True) -> Any:
        """One transaction per batch; on a database error keep the batch and
        retry (on a new connection unless the database is only locked). A
        batch a full disk refused is retried in halves, down to one operation.
        ``journaled``: a batch read from the journal (not counted in memory);
        without ``retry`` a database error is raised."""
        if conn is not None and self._file is not None and file_identity(self.path) != self._file:
            try:  # _connect says why and writes to the file now at the path
                if self._own_wal_at_path():  # the old file takes its pages: none are left for the new one
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
            except connections.ERRORS:
                pass
            conn = None
        size = len(batch)
        while batch:
            if self._stopping and self._thread is None:
                return _GAVE_UP  # close gave up: what is left is in the journal, or reported lost
            part = batch[:size]
            reused = reached = conn is not None
            began = time.monotonic()  # a write that waits (a lock) and fails was trouble from here
            try:
                problem = self._blocked()
                if problem:
                    raise FilesBlocked(f"{problem}: not touched until it is writable")
                if conn is None:
                    conn = self._connect()
                reached = True
                if self._write_again:  # first the calls still running whose rows were in the old file
                    batch = [("insert_call", row) for row in self._open_calls.values()] + batch
                    part, size, self._write_again = batch[:len(batch)], len(batch), False
                _commit(conn, part)
            except connections.ERRORS as exc:
                if reused and dead(conn):  # ended by the server while idle: nothing was written, a new one at once
                    self._drop(conn)
                    conn = None
                    continue
                if isinstance(exc, sqlite3.Error) and is_disk_full(exc):
                    size = max(1, size // 2)
                conn = self._failed(conn, exc, began)
                if not retry:
                    raise
                if not journaled and self.waiting.spill(batch):
                    return conn  # the journal's replay retries them
                if journaled and self.journal is not None:
                    self.journal.keep_at_path()  # removed meanwhile: a kill would take its lines
                    if self._stopping and not reached and not (self.waiting.memory or self.waiting.held):
                        return _GAVE_UP  # stopping, the database out of reach, and every operation in the journal
                time.sleep(self.retry_delay)
                continue
            batch = batch[len(part):]
            self.written += len(part)
            if self.sqlite:
                self._note_open_calls(part)
                if self._wal_files is None:
                    self._wal_files = (file_identity(f"{self.path}-wal"), file_identity(f"{self.path}-shm"))
            if not journaled:
                self.waiting.written(batch)
        if self._trouble is not None:
            log.warning("CDR database writable again after %.0fs; delayed CDRs written",
                        time.monotonic() - self._trouble[0])
            self._trouble = None
        return conn

    def _connect(self) -> Any:
        if self.sqlite and self._file is not None and file_identity(self.path) != self._file \
                and Path(self.path).parent.is_dir():
            self._file_changed()
        conn = self.connector(self.path)
        self._wal_files = None
        if isinstance(conn, sqlite3.Connection):
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            for pragma in WRITER_PRAGMAS:
                conn.execute(pragma)
            self._file = file_identity(self.path)
        return conn

    def _file_changed(self) -> None:
        """The database file was removed, or another put in its place, since
        this writer last wrote to it (every later row would have gone to a
        file no one can read): the file now at the path, created if there is
        none, is brought to the schema, and the running calls' rows are
        written there again first. A folder that is gone is waited for
        instead (SQLite cannot open a file in it)."""
        if not self._write_again:
            removed = not Path(self.path).exists()
            log.error("the CDR database %s was %s while the server ran: CDRs go to %s, the %d calls still "
                      "running written there again first", self.path,
                      "removed" if removed else "replaced by another file",
                      "a new file, with its tables" if removed else "that file", len(self._open_calls))
        self._write_again = True
        self._leave_the_old_wal()
        try:
            upgrade(self.database, online_only=True, clock=self.clock)
        except OSError as exc:
            raise sqlite3.OperationalError(f"cannot create {self.path} again: {exc}") from None

    def _own_wal_at_path(self) -> bool:
        """The ``-wal`` file at the path is still the one this writer wrote."""
        return self._wal_files is not None and self._wal_files[0] is not None \
            and file_identity(f"{self.path}-wal") == self._wal_files[0]

    def _leave_the_old_wal(self) -> None:
        """The file at the path is not the one written: its ``-wal`` and
        ``-shm``, which ``rm`` or ``mv`` of the database file alone leave at
        the path, are removed when they are still the ones this writer wrote
        (emptied first, through the connection still open on the old file,
        when there was one). SQLite would otherwise apply the old file's
        pages to the file now at the path: once, it was then malformed, or
        showed the old file's rows."""
        if self._wal_files is None:
            return
        for suffix, identity in zip(("-wal", "-shm"), self._wal_files):
            if identity is not None and file_identity(f"{self.path}{suffix}") == identity:
                try:
                    Path(f"{self.path}{suffix}").unlink()
                except OSError:
                    pass
        self._wal_files = None

    def _note_open_calls(self, part: list[tuple[str, Any]]) -> None:
        """Keep the rows of the calls written and not ended (SQLite)."""
        for op, arg in part:
            if op == "insert_call":
                self._open_calls[arg.get("id")] = arg
            elif op == "update_call":
                self._open_calls.pop(arg[0], None)

    @staticmethod
    def _drop(conn: Any) -> None:
        try:
            conn.close()
        except connections.ERRORS:
            pass

    def _failed(self, conn: Any, exc: Exception, began: float) -> Any:
        """Roll back, say so (when the trouble starts, changes, and every
        REMIND_EVERY seconds), and drop the connection unless it is a lock.
        ``began``: when the failed write started (the trouble's start when
        it is the first)."""
        self.failures += 1
        message = connections.one_line(exc)
        self._remind(message, began)
        if conn is None or isinstance(exc, FilesBlocked) or self._blocked():
            return conn  # touching it (a rollback, a close) writes to a file that may be immutable
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and any(word in message for word in _LOCKED):
                return conn
            if isinstance(exc, sqlite3.Error) and is_disk_full(exc):
                give_back_space(conn)
            conn.close()
        except connections.ERRORS:
            pass
        return None

    def _remind(self, message: str, began: float | None = None) -> None:
        """Log the trouble when it starts (at ``began``, a failed write's
        start; else now), changes, and every REMIND_EVERY seconds."""
        now = time.monotonic()
        since, logged, before = self._trouble or (now if began is None else began, 0.0, "")
        if message != before or now - logged >= REMIND_EVERY:
            where = f"; {self.journal.lines} in the journal" if self.journal is not None and self.journal.active else ""
            log.error("cannot write CDRs to %s (%s) for %.0fs; %d operations kept%s, retrying every %.1fs",
                      self.path, message, now - since, self.pending, where, self.retry_delay)
            logged = now
        self._trouble = (since, logged, message)


class FilesBlocked(sqlite3.OperationalError):
    """A file of the database is immutable or append-only: not touched."""


def _commit(conn: Any, batch: list[tuple[str, Any]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        apply_batch(conn, batch)
    except RowAborted:  # PostgreSQL: a bad row aborted the transaction
        conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")
        apply_batch(conn, batch, guarded=True)
    conn.execute("COMMIT")


#: What ``_write_until_done`` returns once close gave up.
_GAVE_UP: Any = object()


