"""A small PostgreSQL client on libpq itself, for reports that must start fast.

Importing psycopg takes about 100 ms, more than all the rest of a report's
start. A report that reads a few hundred aggregated rows needs only to
connect, run its queries in one read transaction and read the answers, so
it calls libpq (the library psycopg is built on: the system's
``libpq.so.5``, else the copy psycopg's binary package carries) through
ctypes. Connection parameters, ``.pgpass``, ``sslmode`` and libpq's
messages are libpq's own, as with psycopg; parameters are sent and values
read as psycopg sends and reads them (integers, floats, ``Decimal``, text,
booleans); a value of any other type is an error, never a silent string.
Reading a value costs a call through ctypes, so reports that walk many rows
use psycopg (agi/reports/db.py).
"""
from __future__ import annotations

import atexit
import ctypes
import math
import re
import select
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from agi.db.location import PostgresUrl
from agi.db.postgres_params import DEFAULTS, numbered
from agi.db.rows import Rows

_P = ctypes.c_void_p
_CONNECTION_OK = 0
_TRANSACTION_IDLE = 0
_COMMAND_OK, _TUPLES_OK = 1, 2
_INT2, _INT4, _INT8, _NUMERIC, _FLOAT8 = 21, 23, 20, 1700, 701
_INT_OIDS = {_INT2: 2**15, _INT4: 2**31, _INT8: 2**63}


class PostgresError(Exception):
    """libpq could not connect, or the server refused a statement (one line)."""


def _numeric(text: str) -> Any:
    from decimal import Decimal
    return Decimal(text)


#: How a value in text format becomes Python, by type OID, as psycopg reads it.
_READERS: dict[int, Callable[[str], Any]] = {
    16: lambda text: text == "t",  # bool
    20: int, 21: int, 23: int, 26: int,  # int8, int2, int4, oid
    700: float, 701: float,
    _NUMERIC: _numeric,
    18: str, 19: str, 25: str, 705: str, 1042: str, 1043: str,  # char, name, text, unknown, bpchar, varchar
}


def _parameter(value: Any) -> tuple[int, bytes | None]:
    """The type OID and text of one parameter (OID 0, unknown, lets the server infer it)."""
    if value is None:
        return 0, None
    if isinstance(value, bool):  # agiflow keeps booleans in integer columns, as SQLite does
        return _INT8, b"1" if value else b"0"
    if isinstance(value, int):
        oid = next((oid for oid, bound in _INT_OIDS.items() if -bound <= value < bound), _NUMERIC)
        return oid, str(value).encode()
    if isinstance(value, float):
        if math.isnan(value):
            return _FLOAT8, b"NaN"
        if math.isinf(value):
            return _FLOAT8, b"Infinity" if value > 0 else b"-Infinity"
        return _FLOAT8, repr(value).encode()
    if isinstance(value, str):
        return 0, value.encode()
    raise TypeError(f"cannot send a {type(value).__name__} to PostgreSQL")


#: libpq's functions that agiflow calls: name, result type, argument types.
_FUNCTIONS = (
    ("PQconnectdbParams", _P, [ctypes.POINTER(ctypes.c_char_p)] * 2 + [ctypes.c_int]),
    ("PQstatus", ctypes.c_int, [_P]), ("PQtransactionStatus", ctypes.c_int, [_P]),
    ("PQparameterStatus", ctypes.c_char_p, [_P, ctypes.c_char_p]), ("PQerrorMessage", ctypes.c_char_p, [_P]),
    ("PQfinish", None, [_P]), ("PQclear", None, [_P]),
    ("PQsendQueryParams", ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_uint),
                                         ctypes.POINTER(ctypes.c_char_p), _P, _P, ctypes.c_int]),
    ("PQisBusy", ctypes.c_int, [_P]), ("PQsocket", ctypes.c_int, [_P]), ("PQconsumeInput", ctypes.c_int, [_P]),
    ("PQgetResult", _P, [_P]), ("PQgetCancel", _P, [_P]), ("PQfreeCancel", None, [_P]),
    ("PQcancel", ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    ("PQresultStatus", ctypes.c_int, [_P]), ("PQresultErrorMessage", ctypes.c_char_p, [_P]),
    ("PQntuples", ctypes.c_int, [_P]), ("PQnfields", ctypes.c_int, [_P]),
    ("PQfname", ctypes.c_char_p, [_P, ctypes.c_int]), ("PQftype", ctypes.c_uint, [_P, ctypes.c_int]),
    ("PQgetvalue", ctypes.c_char_p, [_P, ctypes.c_int, ctypes.c_int]),
    ("PQgetisnull", ctypes.c_int, [_P, ctypes.c_int, ctypes.c_int]),
    ("PQconninfoParse", _P, [ctypes.c_char_p, ctypes.POINTER(_P)]), ("PQconninfoFree", None, [_P]),
    ("PQfreemem", None, [_P]),
)
_NAMES = ("libpq.so.5", "libpq.5.dylib", "libpq.dylib")
_library: ctypes.CDLL | None = None


def _lib() -> ctypes.CDLL:
    """libpq, loaded and its functions declared at the first use."""
    global _library
    if _library is None:
        lib = _load()
        for name, restype, argtypes in _FUNCTIONS:
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
        _library = lib
    return _library


def _load() -> ctypes.CDLL:
    for name in _NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    for path in _bundled():
        return ctypes.CDLL(str(path))
    raise PostgresError("libpq, PostgreSQL's client library, is not installed (Debian: apt-get install libpq5)")


def _bundled() -> list[Path]:
    """The libpq that psycopg's binary package carries, found without importing it."""
    import importlib.util
    spec = importlib.util.find_spec("psycopg_binary")
    folders = spec.submodule_search_locations if spec else None
    return [path for folder in folders or () for pattern in ("libpq*.so*", "libpq*.dylib")
            for path in sorted((Path(folder).parent / "psycopg_binary.libs").glob(pattern))]


def unreadable(url: str) -> str | None:
    """Why libpq cannot read ``url`` as connection parameters (an unknown
    parameter, a query without ``=``...), as it would say on connecting;
    None when it can, or when libpq is not there (connecting says so)."""
    try:
        lib = _lib()
    except PostgresError:
        return None
    error = _P()
    options = lib.PQconninfoParse(url.encode(), ctypes.byref(error))
    if options:
        lib.PQconninfoFree(options)
        return None
    message = ctypes.string_at(error.value) if error.value else b"out of memory"
    if error.value:
        lib.PQfreemem(error)
    return _text(message)


#: The severity a server's message starts with (``ERROR:  ``, ``FATAL:  ``, ``ERREUR:  ``...):
#: a word, a colon and two spaces.
_SEVERITY = re.compile(rb"^[^\s:]+:  ")


def _server_text(raw: bytes | None) -> str:
    """The server's message about a statement as one line without its
    severity, as psycopg tells it (``division by zero``)."""
    return _text(_SEVERITY.sub(b"", raw or b"", count=1))


def _text(raw: bytes | None) -> str:
    """libpq's message as one line, without the piece of the statement the
    server quotes after it (``LINE 1: ...``), as ``postgres.one_line``."""
    text = (raw or b"").decode("utf-8", "replace")
    statement = text.find("\nLINE ")
    return " ".join((text if statement < 0 else text[:statement]).split())


class Result:
    """The rows of one statement, read by position and by name (``Rows``)."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class Connection:
    """One autocommit connection (``BEGIN`` and ``COMMIT`` by hand), with
    agiflow's libpq parameters under those of the URL. Statements are
    written with SQLite's parameters (``?``, ``:name``), as for psycopg."""

    Error = PostgresError
    #: The name of the server-side cursor of ``batches``.
    CURSOR = "agiflow_rows"

    def __init__(self, url: PostgresUrl, application_name: str = "agiflow") -> None:
        self._lib = _lib()
        self.url = url
        self.application_name = application_name
        # libpq takes the last value of a parameter given twice: agiflow's first, then the URL's
        params = {**DEFAULTS, "application_name": application_name, "client_encoding": "UTF8", "dbname": url.url}
        keys = (ctypes.c_char_p * (len(params) + 1))(*(key.encode() for key in params), None)
        values = (ctypes.c_char_p * (len(params) + 1))(*(value.encode() for value in params.values()), None)
        self._conn: int | None = self._lib.PQconnectdbParams(keys, values, 1)
        if not self._conn or self._lib.PQstatus(self._conn) != _CONNECTION_OK:
            message = _text(self._lib.PQerrorMessage(self._conn)) if self._conn else "out of memory"
            self.close()
            raise PostgresError(message or "cannot connect")

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Result:
        """Run ``sql`` and read all its rows."""
        return Result(self._run(sql, params, named=True))

    def batches(self, sql: str, params: Sequence[Any] | Mapping[str, Any], size: int,
                named: bool) -> Iterator[list[Any]]:
        """The rows of ``sql``, ``size`` at a time, through a server-side
        cursor (inside a transaction); as ``Rows`` or plain tuples."""
        self._run(f"DECLARE {self.CURSOR} NO SCROLL CURSOR FOR {sql}", params, named=False)
        try:
            while batch := self._run(f"FETCH FORWARD {int(size)} FROM {self.CURSOR}", (), named):
                yield batch
        finally:
            try:
                self._run(f"CLOSE {self.CURSOR}", (), named=False)
            except PostgresError:
                pass  # the connection or the transaction failed first: nothing left to free

    def idle(self) -> bool:
        """Connected, and outside any transaction."""
        return bool(self._conn) and self._lib.PQstatus(self._conn) == _CONNECTION_OK \
            and self._lib.PQtransactionStatus(self._conn) == _TRANSACTION_IDLE

    def rename(self, application_name: str) -> None:
        """Take ``application_name``, unless the URL set its own."""
        reported = self._lib.PQparameterStatus(self._conn, b"application_name")
        if application_name != self.application_name and _text(reported) == self.application_name:
            self.execute("SELECT set_config('application_name', ?, false)", (application_name,))
            self.application_name = application_name

    def close(self) -> None:
        if self._conn:
            self._lib.PQfinish(self._conn)
        self._conn = None

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any], named: bool) -> list[Any]:
        if not self._conn:
            raise PostgresError("the connection is closed")
        text, keys = numbered(sql)
        values = [params[key] for key in keys]  # type: ignore[index]  # positions for ?, names for :name
        sent = [_parameter(value) for value in values]
        oids = (ctypes.c_uint * len(sent))(*(oid for oid, _ in sent))
        texts = (ctypes.c_char_p * len(sent))(*(data for _, data in sent))
        if not self._lib.PQsendQueryParams(self._conn, text.encode(), len(sent), oids, texts, None, None, 0):
            raise PostgresError(_server_text(self._lib.PQerrorMessage(self._conn)) or "cannot send the statement")
        result = self._answer()
        try:
            return self._rows(result, named)
        finally:
            self._lib.PQclear(result)

    def _answer(self) -> int | None:
        """The result of the statement sent, waited for in Python rather
        than inside libpq, so that Ctrl-C stops a long report at once (and
        asks the server to cancel the statement)."""
        lib = self._lib
        try:
            while lib.PQisBusy(self._conn):
                socket = lib.PQsocket(self._conn)
                if socket < 0:
                    break
                select.select([socket], [], [])
                if not lib.PQconsumeInput(self._conn):
                    break  # the connection broke: the result says how
        except BaseException:
            self._cancel()
            raise
        first = None
        while result := lib.PQgetResult(self._conn):
            if first is None:
                first = result
            else:
                lib.PQclear(result)
        return first

    def _cancel(self) -> None:
        cancel = self._lib.PQgetCancel(self._conn)
        if cancel:
            self._lib.PQcancel(cancel, ctypes.create_string_buffer(256), 256)
            self._lib.PQfreeCancel(cancel)

    def _rows(self, result: int | None, named: bool) -> list[Any]:
        lib = self._lib
        status = lib.PQresultStatus(result) if result else -1
        if status == _COMMAND_OK:
            return []
        if status != _TUPLES_OK:
            message = lib.PQresultErrorMessage(result) if result else lib.PQerrorMessage(self._conn)
            raise PostgresError(_server_text(message) or "the server did not answer")
        columns = range(lib.PQnfields(result))
        readers = [self._reader(lib.PQftype(result, column)) for column in columns]
        getvalue, isnull = lib.PQgetvalue, lib.PQgetisnull
        rows = [tuple(None if not (raw := getvalue(result, row, column)) and isnull(result, row, column)
                      else readers[column](raw.decode())
                      for column in columns)
                for row in range(lib.PQntuples(result))]
        if not named:
            return rows
        names = tuple(lib.PQfname(result, column).decode() for column in columns)
        kind = Rows.named(names)
        return [kind(row) for row in rows]

    @staticmethod
    def _reader(oid: int) -> Callable[[str], Any]:
        try:
            return _READERS[oid]
        except KeyError:
            raise PostgresError(f"a result column of PostgreSQL type {oid}, which agiflow's reports do not read") \
                from None


#: Connections left open by ``keep``, by URL, for the next ``open_connection``.
_kept: dict[str, Connection] = {}


def keep(conn: Connection) -> None:
    """Leave ``conn`` open for the next ``open_connection`` of its URL in
    this process, so that a command's check of the database and its work
    share one server backend (starting one takes the server a few ms, tens
    under load); closed at exit when nothing took it."""
    if not _kept:  # registered again only once every kept connection was taken
        atexit.register(_close_kept)
    _close(_kept.pop(conn.url.url, None))
    _kept[conn.url.url] = conn


def _close_kept() -> None:
    while _kept:
        _close(_kept.popitem()[1])


def _close(conn: Connection | None) -> None:
    if conn is not None:
        conn.close()


def open_connection(url: PostgresUrl, application_name: str) -> Connection:
    """An autocommit ``Connection`` whose rows read by name too, as
    ``agi.db.postgres.open_connection``: the one ``keep`` left for this URL
    when it is still idle, else a new one."""
    kept = _kept.pop(url.url, None)
    if kept is not None and kept.idle():
        kept.rename(application_name)
        return kept
    _close(kept)
    return Connection(url, application_name)
