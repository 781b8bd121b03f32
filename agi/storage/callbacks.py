"""Callback requests for the dialer: the ``callbacks`` table in the CDR
database, how calls add rows to it (through the CDR writer, never blocking
a call), and the named queries ``agiflow callbacks`` runs on it.

Pure SQLite: no Twisted, no click.
"""
from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

import psycopg
import sqlite_utils

from agi.db import postgres as pg
from agi.db.location import PostgresUrl
from agi.db.caps import CAPS, cap_row, cap_text

PENDING = "pending"
DONE = "done"
CANCELLED = "cancelled"
STATUSES = (PENDING, DONE, CANCELLED)
#: The writer operation that inserts one request (see CdrStore.submit).
INSERT_OPERATION = "insert_callback"

CALLBACK_COLUMNS: dict[str, type] = {
    "id": int, "requested_at": str, "call_id": str, "flow": str, "caller": str,
    "number": str, "raw_number": str, "queue": str, "reason": str, "status": str,
    "done_at": str, "note": str, "request_key": str,
}
#: What a step hands over; id, status, done_at and note are the table's.
REQUEST_FIELDS = ("requested_at", "call_id", "flow", "caller", "number", "raw_number", "queue", "reason")

#: One pending request; the same request written again (its key, set when
#: the call asked) changes nothing. The same text runs on PostgreSQL.
INSERT_CALLBACK = (
    f"INSERT INTO callbacks ({', '.join(REQUEST_FIELDS)}, request_key, status) "
    f"VALUES ({', '.join(':' + c for c in REQUEST_FIELDS)}, :request_key, '{PENDING}') "
    "ON CONFLICT (request_key) DO NOTHING"
)
SELECT_CALLBACKS = (
    "SELECT * FROM callbacks WHERE (CAST(:status AS TEXT) IS NULL OR status = :status) "
    "AND (CAST(:since AS TEXT) IS NULL OR requested_at >= :since) ORDER BY requested_at, id"
)
SELECT_ONE = "SELECT * FROM callbacks WHERE id = :id"
CLOSE_CALLBACK = (
    "UPDATE callbacks SET status = :status, done_at = :now, note = COALESCE(:note, note) "
    f"WHERE id = :id AND status = '{PENDING}'"
)


def ensure_callbacks_table(db: sqlite_utils.Database) -> None:
    """Create ``callbacks`` and its indexes if missing; add new columns."""
    table = db.table("callbacks")
    if "callbacks" not in db.table_names():
        table.create(CALLBACK_COLUMNS, pk="id", not_null={"requested_at", "number", "status"})
    else:
        for column, kind in CALLBACK_COLUMNS.items():
            if column not in table.columns_dict:
                table.add_column(column, kind)
    table.create_index(["status", "requested_at"], if_not_exists=True)
    table.create_index(["call_id"], if_not_exists=True)
    table.create_index(["request_key"], index_name="idx_callbacks_request_key", unique=True, if_not_exists=True)


def request_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a request a step hands over, each text cut at its cap."""
    return cap_row({field: row.get(field) for field in REQUEST_FIELDS})


def insert_callback(conn: Any, row: Mapping[str, Any]) -> None:
    """The writer operation: one pending request."""
    conn.execute(INSERT_CALLBACK, callback_values(row))


def callback_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """INSERT_CALLBACK's parameters; a request without a key gets a new one."""
    values = request_values(row)
    values["request_key"] = row.get("request_key") or uuid.uuid4().hex
    return values


# -- where steps hand their requests -------------------------------------------

class Writer(Protocol):
    def submit(self, operation: str, arg: Any) -> None: ...


class StoredCallbackRequests:
    """Requests queued on the CDR writer: same thread, same transactions
    and the same guarantee on shutdown as the CDRs themselves."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def request(self, row: Mapping[str, Any]) -> None:
        self.writer.submit(INSERT_OPERATION, callback_values(row))


class MemoryCallbackRequests:
    """Keeps requests in a list: simulations and tests."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def request(self, row: Mapping[str, Any]) -> None:
        self.rows.append(request_values(row))


# -- what agiflow callbacks reads and changes ---------------------------------

class CallbackError(Exception):
    """A request that cannot be changed, or a database that cannot be read."""


@dataclass
class CallbackBook:
    """The ``callbacks`` table of the database at ``path``, opened for one
    command. WAL lets it read and update while the server writes; the busy
    timeout makes it wait its turn instead of failing."""

    path: Path
    busy_timeout: float = 5.0

    def _connect(self) -> Any:
        if not self.path.exists():
            raise CallbackError(f"no database at {self.path} (agiflow serve creates it)")
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    def requests(self, status: str | None = PENDING, since: str | None = None) -> list[dict[str, Any]]:
        """Requests with ``status`` (None: all) made at or after ``since``
        (ISO UTC text), oldest first."""
        conn = self._connect()
        try:
            return [_shown(r) for r in conn.execute(SELECT_CALLBACKS, {"status": status, "since": since})]
        except _ERRORS as exc:
            if _no_table(exc):
                return []
            raise CallbackError(f"cannot read {self.path}: {_one_line(exc)}") from None
        finally:
            conn.close()

    def close(self, request_id: int, status: str, now: str, note: str | None = None) -> dict[str, Any]:
        """Mark a pending request ``done`` or ``cancelled``; the updated row."""
        conn = self._connect()
        try:
            cursor = conn.execute(CLOSE_CALLBACK, {"status": status, "now": now, "id": request_id,
                                                   "note": None if note is None else cap_text(note, CAPS["note"])})
            row = conn.execute(SELECT_ONE, {"id": request_id}).fetchone()
        except _ERRORS as exc:
            if _no_table(exc):
                raise CallbackError(f"no callback request {request_id}") from None
            raise CallbackError(f"cannot update {self.path}: {_one_line(exc)}") from None
        finally:
            conn.close()
        if row is None:
            raise CallbackError(f"no callback request {request_id}")
        if cursor.rowcount == 0:
            raise CallbackError(f"callback request {request_id} is already {row['status']} "
                                f"(since {row['done_at']})")
        return _shown(row)


class PostgresCallbackBook(CallbackBook):
    """The ``callbacks`` table of a PostgreSQL database."""

    def __init__(self, url: PostgresUrl) -> None:
        super().__init__(Path(str(url)))
        self.url = url
        self.path = url  # type: ignore[assignment]  # named in messages

    def _connect(self) -> Any:
        try:
            conn = pg.Connection(pg.connect(self.url, statement_timeout_ms=30_000,
                                            application_name="agiflow callbacks"))
        except psycopg.Error as exc:
            raise CallbackError(f"cannot connect to {self.url}: {_one_line(exc)}") from None
        conn.raw.row_factory = pg.row_factory
        return conn


_ERRORS = (sqlite3.Error, psycopg.Error)


def _no_table(exc: Exception) -> bool:
    return isinstance(exc, psycopg.errors.UndefinedTable) or "no such table" in str(exc)


def _one_line(exc: Exception) -> str:
    return pg.one_line(exc)


def _shown(row: Any) -> dict[str, Any]:
    """A request as commands show it: every column but the internal request key."""
    return {key: row[key] for key in row.keys() if key != "request_key"}
