"""Callback requests for the dialer: the ``callbacks`` table in the CDR
database, how calls add and close rows (through the CDR writer, never
blocking a call), and the named queries ``agiflow callbacks`` runs on it.

Both backends: no Twisted, no click.
"""
from __future__ import annotations

import contextlib
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol
from urllib.parse import quote

import psycopg
import sqlite_utils

from agi.db import postgres as pg
from agi.db import postgres_sql as pgsql
from agi.db.location import PostgresUrl
from agi.db.caps import CAPS, cap_row, cap_text
from agi.db.transactions import rollback
from agi.services import KEYPAD, MISSED  # noqa: F401 - the values of callbacks.source

PENDING = "pending"
DONE = "done"
CANCELLED = "cancelled"
STATUSES = (PENDING, DONE, CANCELLED)
#: The writer operations on the table (see CdrStore.submit): one request,
#: one request unless the number has a pending one, closing a number's
#: pending requests when the caller reached an agent.
INSERT_OPERATION = "insert_callback"
MISSED_OPERATION = "insert_missed_callback"
REACHED_OPERATION = "close_reached_callbacks"

CALLBACK_COLUMNS: dict[str, type] = {
    "id": int, "requested_at": str, "call_id": str, "flow": str, "caller": str,
    "number": str, "raw_number": str, "queue": str, "reason": str, "status": str,
    "done_at": str, "note": str, "request_key": str,
    "arrived_at": str, "source": str, "attempts": int, "dialled_at": str,
}
#: The columns commands show (``agiflow callbacks export``): all but the internal request key.
SHOWN_COLUMNS = tuple(column for column in CALLBACK_COLUMNS if column != "request_key")
#: What a step hands over; id, status, done_at, note, attempts and dialled_at are the table's.
REQUEST_FIELDS = ("requested_at", "call_id", "flow", "caller", "number", "raw_number", "queue", "reason",
                  "arrived_at", "source")

_COLUMNS = f"{', '.join(REQUEST_FIELDS)}, request_key, status, attempts"
_VALUES = f"{', '.join(f'CAST(:{c} AS TEXT)' for c in REQUEST_FIELDS)}, :request_key, '{PENDING}', 0"
#: One pending request; the same request written again (its key, set when
#: the call asked) changes nothing. The same text runs on PostgreSQL.
INSERT_CALLBACK = f"INSERT INTO callbacks ({_COLUMNS}) VALUES ({_VALUES}) ON CONFLICT (request_key) DO NOTHING"
#: A pending request of the number that a missed call's request would
#: repeat: one not dialled since the call arrived (``:arrived_at``, else
#: ``:requested_at``). One dialled after it, its attempts perhaps all used,
#: leaves room for a new request: the caller tried again since.
_BLOCKING = (f"number = CAST(:number AS TEXT) AND status = '{PENDING}' AND (dialled_at IS NULL OR dialled_at "
             ">= COALESCE(CAST(:arrived_at AS TEXT), CAST(:requested_at AS TEXT)))")
#: A missed call's request, unless the number already has such a request
#: (and, like every insert, nothing the second time).
INSERT_MISSED_CALLBACK = (
    f"INSERT INTO callbacks ({_COLUMNS}) SELECT {_VALUES} "
    f"WHERE NOT EXISTS (SELECT 1 FROM callbacks WHERE {_BLOCKING}) "
    "ON CONFLICT (request_key) DO NOTHING"
)
#: On PostgreSQL a statement sees what was committed when it began, so two
#: writers (workers, nodes) inserting a missed call's request for one number
#: at once could both find none pending. Each first takes this lock on the
#: number, held until its transaction ends; the second then finds the first's.
LOCK_NUMBER = "SELECT pg_advisory_xact_lock(hashtext(CAST(:number AS TEXT)))"


def lock_missed_numbers(conn: Any, operations: Iterable[tuple[str, Any]]) -> None:
    """In a transaction on PostgreSQL, lock the numbers of the missed calls'
    requests among ``operations`` (name, row or parameters), in order, so
    that two writers never wait on each other crosswise. SQLite has one
    writer at a time: nothing to do."""
    if isinstance(conn, sqlite3.Connection):
        return
    numbers = sorted({cap_row({"number": str(arg["number"])})["number"] for op, arg in operations
                      if op == MISSED_OPERATION and isinstance(arg, Mapping) and arg.get("number") is not None})
    for number in numbers:
        conn.execute(LOCK_NUMBER, {"number": number})


#: A caller who reached an agent: the number's pending requests are done
#: (a second time changes nothing: none is pending).
CLOSE_REACHED = (
    f"UPDATE callbacks SET status = '{DONE}', done_at = :at, "
    "note = 'reached an agent on call ' || COALESCE(CAST(:call_id AS TEXT), '?') "
    f"WHERE number = :number AND status = '{PENDING}'"
)
SELECT_CALLBACKS = (
    "SELECT * FROM callbacks WHERE (CAST(:status AS TEXT) IS NULL OR status = :status) "
    "AND (CAST(:since AS TEXT) IS NULL OR requested_at >= :since) ORDER BY requested_at, id"
)
#: Pending requests a dialer may call now, oldest arrival first.
SELECT_DUE = (
    f"SELECT * FROM callbacks WHERE status = '{PENDING}' AND COALESCE(attempts, 0) < :max_attempts "
    "AND (dialled_at IS NULL OR dialled_at <= :retry_before) AND (CAST(:queue AS TEXT) IS NULL OR queue = :queue) "
    "ORDER BY COALESCE(arrived_at, requested_at), id"
)
#: Take a due request for one call attempt; no row changed: another dialer
#: took it, or another request of its number has a call under way (dialled
#: after :retry_before). Run in a write transaction (SQLite's write lock; on
#: PostgreSQL after LOCK_NUMBER_REQUESTS), so two dialers take turns.
CLAIM_CALLBACK = (
    "UPDATE callbacks SET attempts = COALESCE(attempts, 0) + 1, dialled_at = :now "
    f"WHERE id = :id AND status = '{PENDING}' AND (dialled_at IS NULL OR dialled_at <= :retry_before) "
    "AND NOT EXISTS (SELECT 1 FROM callbacks AS other WHERE other.number = callbacks.number "
    f"AND other.id <> callbacks.id AND other.status = '{PENDING}' AND other.dialled_at > :retry_before)"
)
#: An attempt claimed at :now whose call file could not be written: no call was placed.
RELEASE_CALLBACK = (
    "UPDATE callbacks SET attempts = attempts - 1, dialled_at = :before "
    "WHERE id = :id AND dialled_at = :now AND attempts >= 1"
)
SELECT_ONE = "SELECT * FROM callbacks WHERE id = :id"
#: Whether a number has a pending request (a call that reaches an agent closes it)...
HAS_PENDING = f"SELECT 1 FROM callbacks WHERE number = :number AND status = '{PENDING}' LIMIT 1"
#: ... and one that a missed call arrived at :arrived_at would repeat: its insert then adds none.
HAS_BLOCKING = f"SELECT 1 FROM callbacks WHERE {_BLOCKING} LIMIT 1"
#: The number of one request, whatever its status (a call file in the spool names its id).
SELECT_NUMBER = "SELECT number FROM callbacks WHERE id = :id"
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
    table.create_index(["request_key"], index_name="idx_callbacks_request_key", unique=True, if_not_exists=True)


def request_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a request a step hands over, each text cut at its cap."""
    return cap_row({field: row.get(field) for field in REQUEST_FIELDS})


def callback_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """INSERT_CALLBACK's parameters; a request without a key gets a new one."""
    values = request_values(row)
    values["request_key"] = row.get("request_key") or uuid.uuid4().hex
    return values


def reached_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """CLOSE_REACHED's parameters: ``number``, ``call_id`` and ``at``."""
    return cap_row({"number": row.get("number"), "call_id": row.get("call_id"), "at": row.get("at")})


#: Each writer operation on the table: its statement and its parameters.
WRITES: dict[str, tuple[str, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    INSERT_OPERATION: (INSERT_CALLBACK, callback_values),
    MISSED_OPERATION: (INSERT_MISSED_CALLBACK, callback_values),
    REACHED_OPERATION: (CLOSE_REACHED, reached_values),
}


def write_statement(operation: str, row: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of a writer operation on the table;
    ValueError for an operation that is not one."""
    if operation not in WRITES:
        raise ValueError(f"unknown write operation {operation!r}; known: {', '.join(WRITES)}")
    sql, values = WRITES[operation]
    return sql, values(row)


def apply_write(operation: str) -> Callable[[Any, Mapping[str, Any]], None]:
    """The writer's function for one of WRITES."""
    sql, values = WRITES[operation]

    def apply(conn: Any, row: Mapping[str, Any]) -> None:
        conn.execute(sql, values(row))
    return apply


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

    def missed(self, row: Mapping[str, Any]) -> None:
        self.writer.submit(MISSED_OPERATION, callback_values(row))

    def reached(self, number: str, call_id: str, at: str) -> None:
        self.writer.submit(REACHED_OPERATION, {"number": number, "call_id": call_id, "at": at})


class MemoryCallbackRequests:
    """Keeps requests in a list: simulations and tests. ``pending`` are
    numbers that already have a pending request (flow tests say so)."""

    def __init__(self, pending: Iterable[str] = ()) -> None:
        self.rows: list[dict[str, Any]] = []
        self.pending = set(pending)
        #: Numbers whose pending requests a call closed (it reached an agent).
        self.closed: list[str] = []

    def request(self, row: Mapping[str, Any]) -> None:
        self.rows.append(request_values(row))
        self.pending.add(row["number"])

    def missed(self, row: Mapping[str, Any]) -> None:
        if row["number"] not in self.pending:
            self.request(row)

    def reached(self, number: str, call_id: str, at: str) -> None:
        """Closes the number's pending requests, as CLOSE_REACHED does: a
        number without one closes nothing."""
        if number in self.pending:
            self.closed.append(number)
            self.pending.discard(number)


class SimulatedCallbackRequests(MemoryCallbackRequests):
    """The requests a simulated call would leave (``agiflow simulate``), kept
    in memory. Whether a number has a pending request is also asked of the
    database through ``pending_in_database(number, missed_at)``: a queue's
    automatic request for a number with one not dialled since the call
    arrived is one the server would not write, so none is listed."""

    def __init__(self, pending_in_database: Callable[[str, str | None], bool]) -> None:
        super().__init__()
        self.pending_in_database = pending_in_database

    def missed(self, row: Mapping[str, Any]) -> None:
        self._ask(row["number"], row.get("arrived_at") or row.get("requested_at"))
        super().missed(row)

    def reached(self, number: str, call_id: str, at: str) -> None:
        self._ask(number, None)
        super().reached(number, call_id, at)

    def _ask(self, number: str, missed_at: str | None) -> None:
        if number not in self.pending and number not in self.closed and self.pending_in_database(number, missed_at):
            self.pending.add(number)


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
    #: Open the SQLite file read only (``agiflow simulate``).
    read_only: bool = False

    def _connect(self) -> Any:
        if not self.path.exists():
            raise CallbackError(f"no database at {self.path} (agiflow serve creates it)")
        if self.read_only:
            conn = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True,
                                   timeout=self.busy_timeout, isolation_level=None)
        else:
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

    def due(self, max_attempts: int, retry_before: str, queue: str | None = None) -> list[dict[str, Any]]:
        """Pending requests a dialer may call now: fewer than ``max_attempts``
        call attempts, the last one (if any) at or before ``retry_before``
        (ISO UTC text), for ``queue`` (None: any); oldest arrival first."""
        conn = self._connect()
        try:
            return [_shown(r) for r in conn.execute(SELECT_DUE, {"max_attempts": max_attempts,
                                                                 "retry_before": retry_before, "queue": queue})]
        except _ERRORS as exc:
            if _no_table(exc):
                return []
            raise CallbackError(f"cannot read {self.path}: {_one_line(exc)}") from None
        finally:
            conn.close()

    def has_pending(self, number: str, missed_at: str | None = None) -> bool:
        """Whether ``number`` (E.164) has a pending request; with
        ``missed_at``, one that a call missed then would repeat (not dialled since)."""
        conn = self._connect()
        sql, params = (HAS_PENDING, {"number": number}) if missed_at is None else \
            (HAS_BLOCKING, {"number": number, "arrived_at": missed_at, "requested_at": missed_at})
        try:
            return conn.execute(sql, params).fetchone() is not None
        except _ERRORS as exc:
            if _no_table(exc):
                return False
            raise CallbackError(f"cannot read {self.path}: {_one_line(exc)}") from None
        finally:
            conn.close()

    def numbers_of(self, request_ids: Iterable[int]) -> set[str]:
        """The numbers of the requests ``request_ids``, whatever their status
        (a request closed while its call file waits in the spool is still
        being dialled); an id with no request names none."""
        ids = sorted(set(request_ids))
        if not ids:
            return set()
        conn = self._connect()
        try:
            found = (conn.execute(SELECT_NUMBER, {"id": request_id}).fetchone() for request_id in ids)
            return {str(row["number"]) for row in found if row is not None}
        except _ERRORS as exc:
            if _no_table(exc):
                return set()
            raise CallbackError(f"cannot read {self.path}: {_one_line(exc)}") from None
        finally:
            conn.close()

    def claim(self, request_id: int, now: str, retry_before: str) -> bool:
        """Count one call attempt of a due request, at ``now``; False when
        it is no longer due (another dialer took it, or it was closed)."""
        conn = self._connect()
        try:
            self._begin_claim(conn, request_id)
            cursor = conn.execute(CLAIM_CALLBACK, {"id": request_id, "now": now, "retry_before": retry_before})
            conn.execute("COMMIT")
        except _ERRORS as exc:
            with contextlib.suppress(*_ERRORS):  # a connection that broke has nothing to roll back
                rollback(conn)
            raise CallbackError(f"cannot update {self.path}: {_one_line(exc)}") from None
        finally:
            conn.close()
        return bool(cursor.rowcount == 1)

    def _begin_claim(self, conn: Any, request_id: int) -> None:
        """The write transaction of a claim: SQLite's write lock, which
        dialers take in turn."""
        conn.execute("BEGIN IMMEDIATE")

    def release(self, request_id: int, now: str, before: str | None) -> None:
        """Give back the attempt ``claim`` counted at ``now`` (``dialled_at``
        back to ``before``): its call file could not be written."""
        conn = self._connect()
        try:
            conn.execute(RELEASE_CALLBACK, {"id": request_id, "now": now, "before": before})
        except _ERRORS as exc:
            raise CallbackError(f"cannot update {self.path}: {_one_line(exc)}") from None
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
                                            lock_timeout_ms=pg.COMMAND_LOCK_TIMEOUT_MS,
                                            application_name="agiflow callbacks"))
        except psycopg.Error as exc:
            raise CallbackError(f"cannot connect to {self.url}: {_one_line(exc)}") from None
        conn.raw.row_factory = pg.row_factory
        return conn

    def _begin_claim(self, conn: Any, request_id: int) -> None:
        """The pending requests of the number locked until the claim commits."""
        conn.execute("BEGIN")
        conn.execute(pgsql.LOCK_NUMBER_REQUESTS, {"id": request_id})


_ERRORS = (sqlite3.Error, psycopg.Error)


def _no_table(exc: Exception) -> bool:
    return isinstance(exc, psycopg.errors.UndefinedTable) or "no such table" in str(exc)


def _one_line(exc: Exception) -> str:
    return pg.one_line(exc)


def _shown(row: Any) -> dict[str, Any]:
    """A request as commands show it: every column but the internal request key."""
    return {key: row[key] for key in row.keys() if key != "request_key"}
