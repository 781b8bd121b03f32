"""Read-only access to the CDR database for reports, on either backend.

SQLite: reports open the file with ``mode=ro`` and ``query_only``, so they
can never write or lock it for the server. The server keeps the database
in WAL mode: a reader sees one consistent snapshot and never blocks the
writer. PostgreSQL: the session is read-only (``default_transaction_read_only``)
and ``snapshot`` is a ``REPEATABLE READ READ ONLY`` transaction. Either way
every query of one report runs inside one read transaction (``snapshot``),
so its table, totals and charts agree even while calls are being written.
The SQL that differs is filled in from the reader's ``dialect``. On
PostgreSQL a report that reads a few aggregated rows uses agiflow's own
libpq client (agi/db/libpq.py), one that walks many rows psycopg.
"""
from __future__ import annotations

import contextlib
import re
import sqlite3
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from agi.db.location import PostgresUrl, parse_database
from agi.db.messages import one_line
from agi.db.rows import cursor_batches
from agi.reports.dialect import POSTGRES, SQLITE, Dialect
from agi.reports.errors import ReportError as ReportError  # where the reports have always found it
from agi.reports.timerange import UTC, parse_stored
from agi.storage.call_measures import Thresholds
from agi.storage.rollups import COUNTED_BY, READ_STATE, counted_with
from agi.vocabulary import CALL_COLUMNS, STEP_COLUMNS


#: sqlite3's words for a TEXT value that is not UTF-8, and the value (its bad bytes as U+FFFD).
_NOT_UTF8 = re.compile(r"Could not decode to UTF-8 column '.*?' with text '(.*)'\Z", re.DOTALL)
#: Rows fetched from the database at a time when rows are streamed.
BATCH = 1000
#: The ``application_name`` of a report's PostgreSQL session.
APPLICATION = "agiflow report"


class CdrReader:
    """A read-only connection to the CDR database at ``path`` (a SQLite
    file or a PostgreSQL URL); ``tz`` is the zone of ``local_day``. With
    ``rollups`` (the default), the aggregate reports read the rollups
    where they can (agi/reports/rollup_plan.py); without, only the calls.
    ``many_rows``: the report walks many rows (on PostgreSQL, psycopg reads them faster)."""

    def __init__(self, path: str | Path | PostgresUrl, tz: tzinfo = UTC, busy_timeout: float = 5.0,
                 rollups: bool = True, many_rows: bool = False) -> None:
        database = parse_database(path) if isinstance(path, str) else path
        self.tz = tz
        self.rollups = rollups
        self.path: Any = database
        self.dialect: Dialect = POSTGRES if isinstance(database, PostgresUrl) else SQLITE
        self.conn: Any = self._open_postgres(database, many_rows) if isinstance(database, PostgresUrl) \
            else self._open_sqlite(Path(database), busy_timeout)
        self._check_schema()

    def _open_sqlite(self, path: Path, busy_timeout: float) -> sqlite3.Connection:
        if not path.is_file():
            raise ReportError(f"no CDR database at {path}")
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("PRAGMA query_only = 1")
            # big scans read pages straight from the OS cache instead of copying them
            conn.execute("PRAGMA mmap_size = 1073741824")
        except sqlite3.Error as exc:
            raise ReportError(f"cannot open the CDR database {path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        return conn

    def _open_postgres(self, url: PostgresUrl, many_rows: bool) -> Any:
        """psycopg for a report that walks many rows (it reads them three
        times faster), else agiflow's libpq client, which starts 100 ms sooner."""
        if many_rows:
            from agi.db import postgres as client
        else:
            from agi.db import libpq as client  # type: ignore[no-redef]
        try:
            connection: Any = client.open_connection(url, APPLICATION)
            connection.execute("SET default_transaction_read_only = on")
        except client.Connection.Error as exc:
            raise ReportError(f"cannot open the CDR database {url}: {one_line(exc)}") from None
        return connection

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "CdrReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sql(self, template: str, **parts: str) -> str:
        """A query of agi/reports/queries.py with this backend's pieces and ``parts`` filled in."""
        return template.format(**self.dialect.pieces, **parts)

    @contextmanager
    def snapshot(self) -> Iterator["CdrReader"]:
        """One read transaction: every query inside sees the same data."""
        if self.dialect is POSTGRES:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # the snapshot starts here
        try:
            yield self
        except BaseException:
            # the error that ended the report, not the COMMIT's of a connection it broke
            with contextlib.suppress(*self._errors()):
                self.conn.execute("COMMIT")
            raise
        try:
            self.conn.execute("COMMIT")
        except self._errors() as exc:
            raise self._read_error(exc) from None

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        try:
            return list(self.conn.execute(sql, params or {}).fetchall())
        except self._errors() as exc:
            raise self._read_error(exc) from None

    def stream(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows as plain tuples, read ``BATCH`` at a time, so
        that however many there are the memory stays the same; inside
        ``snapshot`` (PostgreSQL reads them through a server-side cursor).
        SQLite stops mapping the file first: every page a long export
        touched would stay in the process's memory."""
        if self.dialect is SQLITE:
            self.conn.execute("PRAGMA mmap_size = 0")
        yield from self._batches(sql, params or {})

    def tuples(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows as ``stream`` reads them, SQLite's file still mapped: for
        walking many rows into a few."""
        yield from self._batches(sql, params or {})

    def _batches(self, sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
        try:
            for batch in self._read_batches(sql, params):
                yield from batch
        except self._errors() as exc:
            raise self._read_error(exc) from None

    def _read_batches(self, sql: str, params: dict[str, Any]) -> Iterator[list[Any]]:
        if self.dialect is POSTGRES:
            yield from self.conn.batches(sql, params, BATCH, named=False)
            return
        cursor = self.conn.cursor()
        cursor.row_factory = None
        yield from cursor_batches(cursor, sql, params, BATCH, sqlite3.Error)

    def _errors(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error, self.conn.Error) if self.dialect is POSTGRES else (sqlite3.Error,)

    def _read_error(self, exc: BaseException) -> ReportError:
        not_utf8 = _NOT_UTF8.match(str(exc))
        if not_utf8:  # SQLite's text that another tool wrote, which no program is given
            # the value alone, out of the columns a query joined (tracking's last call)
            text = next((part for part in not_utf8[1].split("\x01") if "\ufffd" in part), not_utf8[1])
            return ReportError(f"the CDR database {self.path} holds text that is not UTF-8 ({text[:200]!r}): "
                               "a row written by another tool? Correct or delete it (docs/cdr.md)")
        return ReportError(f"cannot read the CDR database {self.path}: {one_line(exc)}")

    def rollup_thresholds(self) -> Thresholds | None:
        """The thresholds the database's rollups were counted with; None
        when the reader takes no rollups, or the database has none counted
        by this agiflow's definitions (``COUNTED_BY``; none below schema
        version 7, whose pending quarter hours were elsewhere)."""
        if not self.rollups or self.schema_version() < COUNTED_BY:
            return None
        found = self.rows(READ_STATE)
        return counted_with(found[0] if found else None)

    def schema_version(self) -> int:
        """The database's schema version (agi/storage/migrations.py); 0 when it has none."""
        exists = ("SELECT to_regclass('agiflow_schema') IS NOT NULL" if self.dialect is POSTGRES else
                  "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'agiflow_schema'")
        if not self.rows(exists)[0][0]:
            return 0
        return int(self.rows("SELECT max(version) FROM agiflow_schema")[0][0] or 0)

    def local_day(self, ts: str) -> str:
        """The day of a CDR timestamp in the reader's zone."""
        return parse_stored(ts).astimezone(self.tz).date().isoformat()

    def _columns(self, table: str) -> set[str]:
        if self.dialect is POSTGRES:
            return {row[0] for row in self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ?", (table,))}
        return {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}

    def _check_schema(self) -> None:
        for table, expected in (("calls", CALL_COLUMNS), ("call_steps", STEP_COLUMNS)):
            try:
                found = self._columns(table)
            except self._errors() as exc:
                raise ReportError(f"{self.path} is not a CDR database: {one_line(exc)}") from None
            if not found:
                raise ReportError(f"{self.path} has no table {table}: is it an agiflow CDR database?")
            missing = sorted(set(expected) - found)
            if missing:
                raise ReportError(f"{self.path}: table {table} lacks columns {', '.join(missing)}; "
                                  f"start `agiflow serve` on it once to upgrade the schema")
