"""Callback requests for the dialer: the ``callbacks`` table in the CDR
database, how calls add rows to it (through the CDR writer, never blocking
a call), and the named queries ``agiflow callbacks`` runs on it.

Pure SQLite: no Twisted, no click.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

import sqlite_utils

PENDING = "pending"
DONE = "done"
CANCELLED = "cancelled"
STATUSES = (PENDING, DONE, CANCELLED)
#: The writer operation that inserts one request (see CdrStore.submit).
INSERT_OPERATION = "insert_callback"

CALLBACK_COLUMNS: dict[str, type] = {
    "id": int, "requested_at": str, "call_id": str, "flow": str, "caller": str,
    "number": str, "raw_number": str, "queue": str, "reason": str, "status": str,
    "done_at": str, "note": str,
}
#: What a step hands over; id, status, done_at and note are the table's.
REQUEST_FIELDS = ("requested_at", "call_id", "flow", "caller", "number", "raw_number", "queue", "reason")

INSERT_CALLBACK = (
    f"INSERT INTO callbacks ({', '.join(REQUEST_FIELDS)}, status) "
    f"VALUES ({', '.join(':' + c for c in REQUEST_FIELDS)}, '{PENDING}')"
)
SELECT_CALLBACKS = (
    "SELECT * FROM callbacks WHERE (:status IS NULL OR status = :status) "
    "AND (:since IS NULL OR requested_at >= :since) ORDER BY requested_at, id"
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
    table.create_index(["number", "status"], if_not_exists=True)


def insert_callback(conn: sqlite3.Connection, row: Mapping[str, Any]) -> None:
    """The writer operation: one pending request."""
    conn.execute(INSERT_CALLBACK, {field: row.get(field) for field in REQUEST_FIELDS})


# -- where steps hand their requests -------------------------------------------

class Writer(Protocol):
    def submit(self, operation: str, arg: Any) -> None: ...


class StoredCallbackRequests:
    """Requests queued on the CDR writer: same thread, same transactions
    and the same guarantee on shutdown as the CDRs themselves."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def request(self, row: Mapping[str, Any]) -> None:
        self.writer.submit(INSERT_OPERATION, {field: row.get(field) for field in REQUEST_FIELDS})


class MemoryCallbackRequests:
    """Keeps requests in a list: simulations and tests."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def request(self, row: Mapping[str, Any]) -> None:
        self.rows.append({field: row.get(field) for field in REQUEST_FIELDS})


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

    def _connect(self) -> sqlite3.Connection:
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
            return [dict(r) for r in conn.execute(SELECT_CALLBACKS, {"status": status, "since": since})]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise CallbackError(f"cannot read {self.path}: {exc}") from None
        finally:
            conn.close()

    def close(self, request_id: int, status: str, now: str, note: str | None = None) -> dict[str, Any]:
        """Mark a pending request ``done`` or ``cancelled``; the updated row."""
        conn = self._connect()
        try:
            cursor = conn.execute(CLOSE_CALLBACK, {"status": status, "now": now, "note": note, "id": request_id})
            row = conn.execute(SELECT_ONE, {"id": request_id}).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise CallbackError(f"no callback request {request_id}") from None
            raise CallbackError(f"cannot update {self.path}: {exc}") from None
        finally:
            conn.close()
        if row is None:
            raise CallbackError(f"no callback request {request_id}")
        if cursor.rowcount == 0:
            raise CallbackError(f"callback request {request_id} is already {row['status']} "
                                f"(since {row['done_at']})")
        return dict(row)
