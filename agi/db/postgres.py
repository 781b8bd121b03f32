"""PostgreSQL connections as every store opens them (psycopg 3).

The user's URL wins; agiflow only adds what it leaves out: a connect
timeout, TCP keepalives and ``tcp_user_timeout`` (a dead server or network
is noticed in seconds, not hours), ``application_name`` and, for the
server's reads, a ``statement_timeout``. Statements are written once with
SQLite's parameters (``?`` and ``:name``) and translated
(agi/db/postgres_params.py), so shared SQL is one text. ``trouble`` tells
a server or network problem (retry later) from a bad statement or row
(never worth retrying).
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

import psycopg
from psycopg import conninfo, errors
from psycopg.adapt import Dumper
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from agi.db.location import PostgresUrl
from agi.db.messages import one_line as one_line  # the name every store uses
from agi.db.postgres_params import DEFAULTS, pyformat
from agi.db.rows import Rows, cursor_batches

log = logging.getLogger("agiflow.database")
# psycopg's own notes (`error ignored terminating <psycopg.Copy [BAD]...>` when a
# connection ends during a COPY) go to the handlers the program set up (the
# server's log); a command that set up none says what went wrong in its one line,
# instead of Python printing them beside it.
logging.getLogger("psycopg").addHandler(logging.NullHandler())
#: How long a command's change waits for a lock held elsewhere, as SQLite's busy timeout.
COMMAND_LOCK_TIMEOUT_MS = 5000


def parameters(url: PostgresUrl, *, statement_timeout_ms: int | None = None,
               application_name: str | None = None, lock_timeout_ms: int | None = None) -> dict[str, Any]:
    """The libpq parameters of ``url`` with agiflow's defaults added."""
    params: dict[str, Any] = {**DEFAULTS, **conninfo.conninfo_to_dict(url.url)}
    if application_name and "application_name" not in conninfo.conninfo_to_dict(url.url):
        params["application_name"] = application_name
    for setting, value in (("statement_timeout", statement_timeout_ms), ("lock_timeout", lock_timeout_ms)):
        if value is not None:
            option = f"-c {setting}={int(value)}"
            params["options"] = f"{params['options']} {option}" if params.get("options") else option
    return params


class _BoolAsInteger(Dumper):
    """Booleans go into agiflow's integer columns (``vip``) as 1 and 0, as SQLite stores them."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def configure(conn: psycopg.Connection[Any]) -> None:
    """What every agiflow connection adapts its own way."""
    conn.adapters.register_dumper(bool, _BoolAsInteger)


def connect(url: PostgresUrl, *, autocommit: bool = True, statement_timeout_ms: int | None = None,
            application_name: str | None = None, lock_timeout_ms: int | None = None) -> psycopg.Connection[Any]:
    """One connection; autocommit unless asked (transactions by hand or with ``transaction()``)."""
    params = parameters(url, statement_timeout_ms=statement_timeout_ms, application_name=application_name,
                        lock_timeout_ms=lock_timeout_ms)
    conn = psycopg.connect(conninfo.make_conninfo(**params), autocommit=autocommit)
    configure(conn)
    return conn


def pool(url: PostgresUrl, *, size: int, timeout: float, statement_timeout_ms: int,
         name: str) -> ConnectionPool:
    """A pool of ``size`` autocommit connections; a borrower waits at most
    ``timeout`` seconds for one. Opened without waiting for the server. A
    reconnection gives up after a second (``reconnect_timeout``), so that
    the next borrower starts a fresh one at once instead of waiting for a
    back-off grown during a long outage. A connection
    the server closed is noticed when it fails, and replaced (its borrower
    retries once, see ``PostgresNumberLists``): no check query per borrow."""
    params = parameters(url, statement_timeout_ms=statement_timeout_ms, application_name=f"agiflow {name}")
    return ConnectionPool(conninfo.make_conninfo(**params), min_size=1, max_size=size, timeout=timeout,
                          kwargs={"autocommit": True}, name=name, open=True, configure=configure,
                          reconnect_timeout=1.0)


#: Errors of one statement or row, not of the server: retrying cannot help.
_STATEMENT_ERRORS = (errors.IntegrityError, errors.DataError)


def trouble(exc: BaseException) -> bool:
    """True when ``exc`` is the server's or the network's trouble (down,
    restarting, unreachable, out of disk, read-only, too slow, locked): the
    same work may succeed later. False for a bad statement or row."""
    if isinstance(exc, _STATEMENT_ERRORS):
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg.InternalError,
                            errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege, errors.UndefinedTable,
                            errors.UndefinedColumn, psycopg.errors.InsufficientResources))


def row_factory(cursor: Any) -> Any:
    """psycopg rows as ``Rows``: by position and by name."""
    names = tuple(column.name for column in cursor.description or ())
    kind = Rows.named(names)

    def make(values: Any) -> Rows:
        row: Rows = kind(values)
        return row
    return make


class Connection:
    """A psycopg connection that takes SQLite's statements: ``?`` and
    ``:name`` parameters, ``BEGIN IMMEDIATE``. The stores written for
    ``sqlite3`` run on it unchanged where their SQL is portable."""

    Error = psycopg.Error

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql.startswith(("BEGIN IMMEDIATE", "BEGIN DEFERRED", "BEGIN EXCLUSIVE")):
            sql = "BEGIN"
        return self.raw.execute(pyformat(sql), params or None)

    def batches(self, sql: str, params: Any, size: int, named: bool) -> Iterator[list[Any]]:
        """The rows of ``sql``, ``size`` at a time, through a server-side
        cursor (inside a transaction); as ``Rows`` or plain tuples."""
        cursor = self.raw.cursor(name="agiflow_rows", row_factory=row_factory if named else tuple_row,
                                 scrollable=False)
        cursor.itersize = size
        yield from cursor_batches(cursor, pyformat(sql), params or None, size, psycopg.Error)

    def executemany(self, sql: str, rows: Any) -> Any:
        with self.raw.cursor() as cursor:
            cursor.executemany(pyformat(sql), rows)
            return cursor

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open to roll back: not on a connection the
        server ended (status UNKNOWN), whose ROLLBACK would raise `the
        connection is closed` in place of the error that ended it."""
        return self.raw.info.transaction_status not in (psycopg.pq.TransactionStatus.IDLE,
                                                        psycopg.pq.TransactionStatus.UNKNOWN)

    def close(self) -> None:
        self.raw.close()


def open_connection(url: PostgresUrl, application_name: str) -> Connection:
    """An autocommit ``Connection`` whose rows read by name too, for readers."""
    raw = connect(url, application_name=application_name)
    raw.row_factory = row_factory
    return Connection(raw)
