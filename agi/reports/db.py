"""Read-only access to the CDR database for reports.

Reports open the SQLite file with ``mode=ro`` and ``query_only``, so they can
never write or lock it for the server. The server keeps the database in WAL
mode: a reader sees one consistent snapshot and never blocks the writer.
Every query of one report runs inside one read transaction (``snapshot``), so
its table, totals and charts agree even while calls are being written.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from agi.reports.timerange import UTC
from agi.vocabulary import CALL_COLUMNS, STEP_COLUMNS


class ReportError(Exception):
    """The report cannot run (no database, an old schema...): the message says why."""


class CdrReader:
    """A read-only connection to the CDR file at ``path``; ``tz`` is the
    zone of ``local_day``."""

    def __init__(self, path: str | Path, tz: tzinfo = UTC, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ReportError(f"no CDR database at {self.path}")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.conn.execute("PRAGMA query_only = 1")
            # big scans read pages straight from the OS cache instead of copying them
            self.conn.execute("PRAGMA mmap_size = 1073741824")
        except sqlite3.Error as exc:
            raise ReportError(f"cannot open the CDR database {self.path}: {exc}") from None
        self.conn.row_factory = sqlite3.Row
        self.tz = tz
        self._check_schema()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "CdrReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def snapshot(self) -> Iterator["CdrReader"]:
        """One read transaction: every query inside sees the same data."""
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # the snapshot starts here
        try:
            yield self
        finally:
            self.conn.execute("COMMIT")

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, params or {}).fetchall()
        except sqlite3.OperationalError as exc:
            raise ReportError(f"cannot read the CDR database {self.path}: {exc}") from None

    def tuples(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
        """Rows as plain tuples, one at a time: for walking many rows."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        try:
            yield from cursor.execute(sql, params or {})
        except sqlite3.OperationalError as exc:
            raise ReportError(f"cannot read the CDR database {self.path}: {exc}") from None
        finally:
            cursor.close()

    def local_day(self, ts: str) -> str:
        """The day of a CDR timestamp in the reader's zone."""
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(self.tz).date().isoformat()

    def _check_schema(self) -> None:
        for table, expected in (("calls", CALL_COLUMNS), ("call_steps", STEP_COLUMNS)):
            try:
                found = {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            except sqlite3.DatabaseError as exc:
                raise ReportError(f"{self.path} is not a CDR database: {exc}") from None
            if not found:
                raise ReportError(f"{self.path} has no table {table}: is it an agiflow CDR database?")
            missing = sorted(set(expected) - found)
            if missing:
                raise ReportError(f"{self.path}: table {table} lacks columns {', '.join(missing)}; "
                                  f"start `agiflow serve` on it once to upgrade the schema")
