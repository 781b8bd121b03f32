"""Manual schedule overrides in the database (SQLite or PostgreSQL), table
``schedule_overrides``: ``agiflow schedule override`` writes one row per
schedule, the server reads the one in force on every call.

An override holds from ``start`` (when it was set, or ``--from``) until
``until``; it applies to no moment outside that window. Databases made
before overrides had a start get the column on their first write (the
server's start, or ``schedule override``): each old row starts when it was
set (``set_at``); a row with no start applies from the beginning. Until
then, read-only readers take ``set_at`` as the start.

Reads are one indexed lookup by primary key on a connection kept open per
thread, so a change is seen by the very next call without a restart. The
database is in WAL mode, so reads never wait for the CDR writer thread;
``busy_timeout`` bounds the rare wait (a checkpoint) for the server.
"""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import psycopg

from agi.db.transactions import rollback
from agi.db import postgres as pg
from agi.db.location import Database, PostgresUrl
from agi.db.per_thread import PerThread
from agi.services import SUPERVISOR_LOCK_WAIT, SUPERVISOR_WAIT, Override, OverridesUnavailable
from agi.db.caps import CAPS, cap_text
from agi.db.sqlite_files import attribute_problem

log = logging.getLogger("agiflow.schedules")

STATES = ("open", "closed")

CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schedule_overrides ("
    " schedule TEXT PRIMARY KEY,"
    " state TEXT NOT NULL CHECK (state IN ('open', 'closed')),"
    " until REAL NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '',"
    " set_at REAL NOT NULL,"
    " start REAL,"
    " set_by TEXT NOT NULL DEFAULT '',"
    " set_how TEXT NOT NULL DEFAULT '')"
)
#: Databases made before overrides had a start: old rows start when set.
ADD_START = "ALTER TABLE schedule_overrides ADD COLUMN start REAL"
FILL_START = "UPDATE schedule_overrides SET start = set_at WHERE start IS NULL"
COLUMNS = "SELECT name FROM pragma_table_info('schedule_overrides')"
#: Databases made before overrides said who set them and how.
ADD_WHO = ("ALTER TABLE schedule_overrides ADD COLUMN set_by TEXT NOT NULL DEFAULT ''",
           "ALTER TABLE schedule_overrides ADD COLUMN set_how TEXT NOT NULL DEFAULT ''")
#: ``{start}`` is the column ``start``, or ``set_at`` in a database not yet
#: given one, and ``{who}`` the columns ``set_by, set_how``, or two empty
#: texts (read only).
_READ = "SELECT schedule, state, until, reason, {start}, set_at, {who} FROM schedule_overrides "
SELECT_ACTIVE = _READ + "WHERE schedule = :schedule AND until > :at AND ({start} IS NULL OR {start} <= :at)"
SELECT_ALL_ACTIVE = _READ + "WHERE until > :at AND ({start} IS NULL OR {start} <= :at) ORDER BY schedule"
SELECT_UNEXPIRED = _READ + "WHERE schedule = :schedule AND until > :at"
UPSERT = (
    "INSERT INTO schedule_overrides (schedule, state, until, reason, set_at, start, set_by, set_how) "
    "VALUES (:schedule, :state, :until, :reason, :set_at, :start, :set_by, :set_how) "
    "ON CONFLICT (schedule) DO UPDATE SET state = excluded.state, until = excluded.until, "
    "reason = excluded.reason, set_at = excluded.set_at, start = excluded.start, "
    "set_by = excluded.set_by, set_how = excluded.set_how"
)
DELETE = "DELETE FROM schedule_overrides WHERE schedule = :schedule"
DELETE_EXPIRED = "DELETE FROM schedule_overrides WHERE until <= :at"


def add_who_columns(conn: sqlite3.Connection) -> None:
    """Give a table made before overrides said who set them its columns
    (in the caller's transaction; a missing table is left to be created)."""
    have = frozenset(name for (name,) in conn.execute(COLUMNS))
    if have and "set_by" not in have:
        for statement in ADD_WHO:
            conn.execute(statement)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("override times must be aware datetimes (with a timezone)")
    return moment.timestamp()


Row = tuple[str, str, float, str, "float | None", float, str, str]


def _override(row: Row) -> Override:
    schedule, state, until, reason, start, set_at, set_by, set_how = row
    return Override(schedule, state, datetime.fromtimestamp(until, tz=timezone.utc), reason,
                    None if start is None else datetime.fromtimestamp(start, tz=timezone.utc),
                    set_by or "", set_how or "", datetime.fromtimestamp(set_at, tz=timezone.utc))


class SqliteOverrides:
    """``ScheduleOverrides`` backed by the configured database file."""

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self._conns: PerThread[Any] = PerThread(self._open, self.path)

    def _open(self) -> Any:
        if self.readonly:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        else:
            conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    def _connection(self) -> Any:
        return self._conns.get()

    def ensure_schema(self) -> None:
        """Create the table (and the file) if missing, or give an old one
        its ``start`` column; WAL like the CDRs."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connection()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(CREATE_TABLE)
            if "start" not in self._columns():
                self._add_start(conn)
            if "set_by" not in self._columns():
                self._add_who(conn)
        except (sqlite3.Error, OSError) as exc:
            raise OverridesUnavailable(f"{self.path}: {exc}") from exc

    def _add_start(self, conn: sqlite3.Connection) -> None:
        """Give a table made before overrides had a start its column, old
        rows starting when they were set; once, whoever else tries too."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if "start" not in self._columns():
                conn.execute(ADD_START)
                conn.execute(FILL_START)
            conn.execute("COMMIT")
        except sqlite3.Error:
            rollback(conn)
            raise

    def _add_who(self, conn: sqlite3.Connection) -> None:
        """Give a table made before overrides said who set them the columns."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            add_who_columns(conn)
            conn.execute("COMMIT")
        except sqlite3.Error:
            rollback(conn)
            raise

    def active(self, schedule: str, at: datetime) -> Override | None:
        """The override in force for ``schedule`` at ``at`` (``at`` inside its
        window); None when there is none, or the table was never created."""
        rows = self._rows(SELECT_ACTIVE, {"schedule": schedule, "at": _epoch(at)})
        return _override(rows[0]) if rows else None

    def unexpired(self, schedule: str, at: datetime) -> Override | None:
        """The override of ``schedule`` that has not ended at ``at``: in
        force then, or starting later."""
        rows = self._rows(SELECT_UNEXPIRED, {"schedule": schedule, "at": _epoch(at)})
        return _override(rows[0]) if rows else None

    def all_active(self, at: datetime) -> list[Override]:
        """Every override in force at ``at``, by schedule name."""
        return [_override(row) for row in self._rows(SELECT_ALL_ACTIVE, {"at": _epoch(at)})]

    def set(self, override: Override, now: datetime, wanted: Callable[[], bool] = lambda: True) -> None:
        """Force ``override.schedule`` open or closed from ``override.start``
        (``now`` when it has none) until ``override.until``, replacing any
        override it had; expired rows are cleaned up."""
        if override.state not in STATES:
            raise ValueError(f"an override is {' or '.join(STATES)}, not {override.state!r}")
        start = override.start or now
        if start >= override.until:
            raise ValueError("an override must start before it ends")
        self.ensure_schema()
        reason = cap_text(override.reason, CAPS["reason"])
        if isinstance(self.path, PostgresUrl) and "\x00" in reason:  # from a template: PostgreSQL refuses NUL
            reason = reason.replace("\x00", "\ufffd")
        values = {"schedule": override.schedule, "state": override.state, "until": _epoch(override.until),
                  "reason": reason, "set_at": _epoch(now),
                  "start": _epoch(start), "set_by": cap_text(override.set_by, CAPS["reason"]),
                  "set_how": cap_text(override.set_how, CAPS["reason"])}
        self._write([(UPSERT, values), (DELETE_EXPIRED, {"at": _epoch(now)})], wanted)

    def clear(self, schedule: str, wanted: Callable[[], bool] = lambda: True) -> bool:
        """Remove the schedule's override; False when it had none."""
        self.ensure_schema()
        return self._write([(DELETE, {"schedule": schedule})], wanted) > 0

    def close(self) -> None:
        self._conns.close()

    def _columns(self) -> frozenset[str]:
        return frozenset(name for (name,) in self._connection().execute(COLUMNS))

    def _start_column(self) -> str:
        """``start``, or ``set_at`` while the table has no start column."""
        if getattr(self._conns.state, "has_start", False):
            return "start"
        if "start" in self._columns():
            self._conns.state.has_start = True
            return "start"
        return "set_at"

    def _who_columns(self) -> str:
        """``set_by, set_how``, or two empty texts while the table has none."""
        if getattr(self._conns.state, "has_who", False):
            return "set_by, set_how"
        if "set_by" in self._columns():
            self._conns.state.has_who = True
            return "set_by, set_how"
        return "'', ''"

    def _rows(self, sql: str, params: dict[str, object]) -> list[Row]:
        problem = None if isinstance(self.path, PostgresUrl) else attribute_problem(str(self.path),
                                                                                    database_file=not self.readonly)
        if problem:  # not touched: see agi.db.sqlite_files
            raise OverridesUnavailable(f"{self.path}: {problem}")
        try:
            statement = sql.format(start=self._start_column(), who=self._who_columns())
            return self._conns.run(lambda conn: list(conn.execute(statement, params).fetchall()))
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable) as exc:
            if isinstance(exc, psycopg.errors.UndefinedTable) or "no such table" in str(exc):
                return []
            raise self._unavailable(exc) from exc
        except (sqlite3.Error, psycopg.Error) as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> OverridesUnavailable:
        self.close()  # the next read reconnects
        return OverridesUnavailable(f"{self.path}: {pg.one_line(exc)}")

    def _write(self, statements: list[tuple[str, dict[str, object]]], wanted: Callable[[], bool]) -> int:
        """Run ``statements`` in one transaction; the rows the first changed.
        Rolled back when, at its end, ``wanted()`` says the call that asked
        for it stopped waiting: the supervisor was told nothing changed."""
        def transaction(conn: Any) -> int:
            conn.execute("BEGIN IMMEDIATE")
            changed = int(conn.execute(*statements[0]).rowcount)
            for sql, params in statements[1:]:
                conn.execute(sql, params)
            if not wanted():
                conn.execute("ROLLBACK")
                raise OverridesUnavailable("not changed: the call had stopped waiting for the database")
            conn.execute("COMMIT")
            return changed

        try:
            return self._conns.run(transaction)
        except (sqlite3.Error, psycopg.Error) as exc:
            raise self._unavailable(exc) from exc


class PostgresOverrides(SqliteOverrides):
    """``ScheduleOverrides`` in a PostgreSQL database: the same statements
    on a connection per thread, each read bounded by a statement timeout.
    The server reads from its database threads, never from the reactor."""

    def __init__(self, url: PostgresUrl, *, readonly: bool = False, statement_timeout_ms: int = 1000,
                 lock_timeout_ms: int | None = None) -> None:
        super().__init__(Path(str(url)), readonly=readonly)
        self.url = url
        self.path = url  # type: ignore[assignment]  # named in messages
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms

    def _open(self) -> Any:
        return pg.Connection(pg.connect(self.url, statement_timeout_ms=self.statement_timeout_ms,
                                        lock_timeout_ms=self.lock_timeout_ms, application_name="agiflow overrides"))

    def ensure_schema(self) -> None:
        """The table is made by the schema's migrations (agiflow db upgrade)."""

    def _start_column(self) -> str:
        return "start"

    def _who_columns(self) -> str:
        return "set_by, set_how"


def server_overrides(database: str | Path | PostgresUrl) -> SqliteOverrides:
    """The server's overrides: the table is created at start, and a read
    waits at most a quarter of a second for a locked database (then the
    call uses the schedule alone)."""
    if isinstance(database, PostgresUrl):
        return PostgresOverrides(database)
    overrides = SqliteOverrides(database, busy_timeout=0.25)
    try:
        overrides.ensure_schema()
    except OverridesUnavailable as exc:
        log.warning("schedule overrides cannot be prepared (%s); schedules run without them until "
                    "the database is writable", exc)
    return overrides


def server_override_changes(database: str | Path | PostgresUrl) -> SqliteOverrides:
    """The server's store for overrides set from a phone (``override``):
    a change waits for a locked database (SQLite's write lock, PostgreSQL's
    row lock) SUPERVISOR_LOCK_WAIT seconds, and PostgreSQL stops a statement
    at SUPERVISOR_WAIT, within the time the step waits for the change
    (SUPERVISOR_WAIT), as a PIN check does; reads keep their short wait."""
    if isinstance(database, PostgresUrl):
        return PostgresOverrides(database, statement_timeout_ms=int(SUPERVISOR_WAIT * 1000),
                                 lock_timeout_ms=int(SUPERVISOR_LOCK_WAIT * 1000))
    return SqliteOverrides(database, busy_timeout=SUPERVISOR_LOCK_WAIT)


def writable_overrides(database: str | Database) -> SqliteOverrides:
    """Overrides a command sets or clears; a SQLite file is first brought
    up to date (created with every table when missing), as a PostgreSQL
    database is by the command's check."""
    if isinstance(database, PostgresUrl):
        return PostgresOverrides(database, statement_timeout_ms=30_000, lock_timeout_ms=pg.COMMAND_LOCK_TIMEOUT_MS)
    from agi.storage.migrations import upgrade_when_behind  # which imports this module's table
    upgrade_when_behind(Path(database))
    return SqliteOverrides(database)


def simulation_overrides(database: str | Database, *, changing: bool = False) -> SqliteOverrides | None:
    """Read-only overrides for simulations and flow tests, when the
    database exists; None (no overrides) when it does not. ``changing``: the
    read of a command about to change them, which waits for a lock held
    elsewhere as long as the change does (the 1 s of a call's read failed it first)."""
    if isinstance(database, PostgresUrl):
        if changing:
            return PostgresOverrides(database, readonly=True, statement_timeout_ms=30_000,
                                     lock_timeout_ms=pg.COMMAND_LOCK_TIMEOUT_MS)
        return PostgresOverrides(database, readonly=True)
    return SqliteOverrides(database, readonly=True) if Path(database).is_file() else None
