"""The callers' earlier calls, read from the CDR database for the
``history`` step: one statement over the ``calls`` index on (caller,
started_at) and the ``callbacks`` index on (number, status).

Each thread that reads keeps its own connection (the server reads from its
database threads, plain AGI mode and simulations from the calling thread).
SQLite: the database is in WAL mode, so a read never waits for the CDR
writer; a progress handler stops a statement that runs past the query's
timeout, and a lock (WAL recovery, a file in rollback-journal mode) is
waited for up to that timeout too. PostgreSQL: the same lookup in its words
(agi/db/postgres_sql.py), stopped by a statement timeout of the query's.
No Twisted.
"""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from agi.db import postgres as pg
from agi.db import postgres_sql as pgsql
from agi.db.location import Database, PostgresUrl
from agi.db.per_thread import PerThread
from agi.services import MAX_COUNTED_CALLS, CallHistorySummary, EarlierCall, HistoryQuery, HistoryUnavailable
from agi.vocabulary import iso

#: How many spellings of one number a lookup matches (agi.phone.spellings).
MAX_SPELLINGS = 5
#: The index the lookup reads (agi/storage/cdr_schema.py REPORT_INDEXES).
CALLER_INDEX = "idx_calls_caller_started"
#: The columns of an earlier call the summary reads, in EarlierCall's order.
EARLIER_COLUMNS = ("started_at", "status", "queue", "queue_status", "dial_status", "agent", "agent_interface")
#: SQLite calls the progress handler every this many virtual machine steps.
_PROGRESS_STEPS = 1000

_SPELLINGS = ", ".join(f":n{i}" for i in range(MAX_SPELLINGS))
_COLUMNS = ", ".join(EARLIER_COLUMNS)
SELECT_HISTORY = (
    f"WITH earlier AS MATERIALIZED ("
    f" SELECT {_COLUMNS} FROM calls INDEXED BY {CALLER_INDEX}"
    f" WHERE caller IN ({_SPELLINGS}) AND started_at >= :since AND started_at < :until"
    f" AND call_id IS NOT :exclude ORDER BY started_at DESC LIMIT {MAX_COUNTED_CALLS}) "
    f"SELECT (SELECT count(*) FROM earlier), (SELECT min(started_at) FROM earlier), "
    f"EXISTS (SELECT 1 FROM callbacks WHERE number = :n0 AND status = 'pending'), "
    f"{', '.join('last.' + c for c in EARLIER_COLUMNS)} "
    f"FROM (SELECT 1) LEFT JOIN (SELECT * FROM earlier ORDER BY started_at DESC LIMIT 1) AS last"
)


def query_parameters(query: HistoryQuery) -> dict[str, Any]:
    """SELECT_HISTORY's parameters; the spellings padded with the first."""
    if not query.spellings or len(query.spellings) > MAX_SPELLINGS:
        raise ValueError(f"a history lookup takes 1 to {MAX_SPELLINGS} spellings of a number")
    padded = list(query.spellings) + [query.spellings[0]] * (MAX_SPELLINGS - len(query.spellings))
    return {**{f"n{i}": spelling for i, spelling in enumerate(padded)},
            "since": _text(query.since), "until": _text(query.until), "exclude": query.exclude_call or None}


def summary_of(row: tuple[Any, ...]) -> CallHistorySummary:
    """The summary from SELECT_HISTORY's one row."""
    count, first, pending, *last = row
    earlier = EarlierCall(*last) if last[0] is not None else None
    return CallHistorySummary(int(count), first, earlier, bool(pending))


def _text(moment: datetime) -> str:
    """A moment as the CDR writes ``started_at`` (ISO UTC, milliseconds)."""
    if moment.tzinfo is None:
        raise ValueError("history windows need aware datetimes")
    return iso(moment.timestamp()) or ""


class SqliteCallHistory:
    """``CallHistory`` over the CDR database at ``path``. ``lookup`` runs on
    the calling thread (plain AGI mode, simulations); the server runs
    ``summary`` in a thread pool (agi/server/history.py)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._conns: PerThread[sqlite3.Connection] = PerThread(self._open, self.path)

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        return self.summary(query)

    def summary(self, query: HistoryQuery) -> CallHistorySummary:
        """Run the one statement, stopped after ``query.timeout`` seconds.
        HistoryUnavailable for any database problem."""
        parameters = query_parameters(query)
        deadline = time.monotonic() + query.timeout
        try:
            conn = self._conns.get()
            # a lock (WAL recovery, a file in rollback-journal mode) is waited for up to the timeout too
            conn.execute(f"PRAGMA busy_timeout = {max(1, int(query.timeout * 1000))}")
            conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
            try:
                row = conn.execute(SELECT_HISTORY, parameters).fetchone()
            finally:
                conn.set_progress_handler(None, 0)
        except sqlite3.Error as exc:
            self.close()
            reason = f"no answer within {query.timeout:g} s" if "interrupted" in str(exc) else str(exc)
            raise HistoryUnavailable(f"cannot read earlier calls from {self.path}: {reason}") from None
        return summary_of(tuple(row))

    def _open(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise sqlite3.OperationalError("the database file does not exist")
        if self.read_only:
            conn = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True, isolation_level=None)
        else:
            conn = sqlite3.connect(str(self.path), isolation_level=None)
            conn.execute("PRAGMA query_only = ON")
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next lookup opens another)."""
        self._conns.close()


class PostgresCallHistory:
    """``CallHistory`` over a PostgreSQL database: one statement on a
    connection per thread, bounded by the query's timeout on the server."""

    #: The lookup in PostgreSQL's words, built once.
    statement = pgsql.history_lookup(EARLIER_COLUMNS, MAX_SPELLINGS, MAX_COUNTED_CALLS)

    def __init__(self, url: PostgresUrl) -> None:
        self.url = url
        self._conns: PerThread[pg.Connection] = PerThread(self._open)

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        return self.summary(query)

    def summary(self, query: HistoryQuery) -> CallHistorySummary:
        """Run the one statement, stopped after ``query.timeout`` seconds.
        HistoryUnavailable for any database problem."""
        parameters = query_parameters(query)
        timeout_ms = int(query.timeout * 1000) or 1
        try:
            row = self._conns.run(lambda conn: self._timed(conn, timeout_ms).execute(self.statement,
                                                                                     parameters).fetchone())
        except psycopg.Error as exc:
            self.close()
            reason = (f"no answer within {query.timeout:g} s" if isinstance(exc, psycopg.errors.QueryCanceled)
                      else pg.one_line(exc))
            raise HistoryUnavailable(f"cannot read earlier calls from {self.url}: {reason}") from None
        return summary_of(tuple(row))

    def _open(self) -> pg.Connection:
        return pg.Connection(pg.connect(self.url, application_name="agiflow history"))

    def _timed(self, conn: pg.Connection, timeout_ms: int) -> pg.Connection:
        """This thread's connection ``conn``, its statement timeout set to ``timeout_ms``."""
        state = self._conns.state
        if getattr(state, "timeout_ms", None) != timeout_ms:  # new, or a step with another timeout
            conn.execute(pgsql.SET_STATEMENT_TIMEOUT, (str(timeout_ms),))
            state.timeout_ms = timeout_ms
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next lookup opens another)."""
        self._conns.close()


def server_history(database: str | Path | Database) -> SqliteCallHistory | PostgresCallHistory:
    """The server's and plain AGI mode's history: the CDR database they write."""
    if isinstance(database, PostgresUrl):
        return PostgresCallHistory(database)
    return SqliteCallHistory(database)


class NoCallHistory:
    """No database yet (``agiflow simulate`` before any server wrote one):
    no earlier calls and no pending callback request, so every caller is
    new. Not a failed lookup: the step gives ``new`` whatever its
    ``on_error`` says, and warns of nothing."""

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        return CallHistorySummary()


def simulation_history(database: str | Path | Database) -> SqliteCallHistory | PostgresCallHistory | NoCallHistory:
    """History for ``agiflow simulate``, read only, when the database
    exists; none (every caller is new) when a SQLite file does not."""
    if isinstance(database, PostgresUrl):
        return PostgresCallHistory(database)
    return SqliteCallHistory(database, read_only=True) if Path(database).is_file() else NoCallHistory()
