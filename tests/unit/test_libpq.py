"""agiflow's libpq client (agi/db/libpq.py), on a real PostgreSQL server:
values and parameters as psycopg reads and sends them, errors in one line,
rows in batches through a server-side cursor, agiflow's connection
parameters under the URL's."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from agi.db import libpq
from agi.db import postgres as pg
from agi.db.location import PostgresUrl
from agi.db.messages import one_line

REPO = Path(__file__).resolve().parents[2]

@pytest.fixture
def conn(postgres_url: PostgresUrl) -> Iterator[libpq.Connection]:
    connection = libpq.open_connection(postgres_url, "agiflow test")
    yield connection
    connection.close()


#: Statements whose answers both clients must read alike, with their parameters.
SAME_AS_PSYCOPG: list[tuple[str, Any]] = [
    ("SELECT 1, CAST(2 AS smallint), CAST(3 AS bigint), 9223372036854775807, -9223372036854775807", ()),
    ("SELECT 1.5, CAST(2.25 AS real), CAST(0.1 AS double precision), CAST('NaN' AS double precision), "
     "CAST('-Infinity' AS double precision), CAST(12.50 AS numeric), sum(CAST(x AS bigint)), avg(x) "
     "FROM (VALUES (1), (2)) AS t(x)", ()),
    ("SELECT 'text', '', CAST(NULL AS text), 'ñandú €𝄞', CAST('a' AS char(3)), CAST('b' AS varchar), "
     "true, false, CAST(NULL AS bigint)", ()),
    ("SELECT ?, ?, ?, ?, ?, ?", ("it's \"quoted\"", "ünï", "", None, 7, 2.5)),
    ("SELECT :a || :b, :a, CAST(:n AS bigint) + 1", {"a": "x", "b": "y", "n": 41}),
    ("SELECT ? + 1, ? * 2, round(CAST(2.345 AS numeric), ?)", (2**40, 2**70, 2)),
    ("SELECT CAST(? AS double precision), CAST(? AS double precision), ?", (float("inf"), float("nan"), True)),
    ("SELECT '50%', ? LIKE 'a%'", ("abc",)),
]


@pytest.mark.parametrize("sql,params", SAME_AS_PSYCOPG)
def test_values_and_parameters_read_as_psycopg_reads_them(conn: libpq.Connection, postgres_url: PostgresUrl,
                                                          sql: str, params: Any) -> None:
    with contextlib.closing(pg.open_connection(postgres_url, "agiflow test")) as theirs:
        expected = [tuple(row) for row in theirs.execute(sql, params).fetchall()]
    found = [tuple(row) for row in conn.execute(sql, params).fetchall()]
    assert _same(found, expected), (found, expected)


def _same(found: Any, expected: Any) -> bool:
    """Equal values of the same types (NaN equal to itself)."""
    if isinstance(expected, (list, tuple)):
        return len(found) == len(expected) and all(_same(a, b) for a, b in zip(found, expected))
    if isinstance(expected, float) and expected != expected:
        return isinstance(found, float) and found != found
    return type(found) is type(expected) and found == expected


def test_rows_read_by_name_and_position_and_types_are_exact(conn: libpq.Connection) -> None:
    row = conn.execute("SELECT CAST(12.50 AS numeric) AS amount, 'x' AS name, NULL AS nothing").fetchone()
    assert row["amount"] == row[0] == Decimal("12.50") and isinstance(row[0], Decimal)
    assert row["name"] == "x" and row["nothing"] is None
    assert row.keys() == ["amount", "name", "nothing"]
    assert conn.execute("SELECT 1 WHERE false").fetchone() is None
    assert list(conn.execute("SELECT generate_series(1, 3) AS n")) == [(1,), (2,), (3,)]


def test_a_type_it_does_not_read_is_an_error_not_a_string(conn: libpq.Connection) -> None:
    with pytest.raises(libpq.PostgresError, match="type 1184"):
        conn.execute("SELECT now()")
    with pytest.raises(TypeError, match="cannot send a bytes"):
        conn.execute("SELECT ?", (b"raw",))


def test_a_refused_statement_is_one_line_and_the_connection_goes_on(conn: libpq.Connection) -> None:
    with pytest.raises(libpq.PostgresError) as caught:
        conn.execute("SELECT nope FROM nowhere")
    assert "nowhere" in str(caught.value) and "\n" not in str(caught.value)
    assert conn.execute("SELECT 2").fetchone() == (2,)


@pytest.mark.parametrize("statement", ["SELECT 1/0", "SELECT nope FROM nowhere",
                                       "SELECT pg_terminate_backend(pg_backend_pid())"])
def test_a_refused_statement_is_told_in_psycopg_s_words(postgres_url: PostgresUrl, statement: str) -> None:
    """The reports that read through this client said ``ERROR: permission
    denied for table call_rollups_state`` and ``FATAL: terminating
    connection ...`` where the others, through psycopg, said the same
    failure without PostgreSQL's severity."""
    told = []
    for client in (libpq.open_connection(postgres_url, "agiflow test"), pg.connect(postgres_url)):
        try:
            with pytest.raises(Exception) as caught:
                client.execute(statement)
            told.append(one_line(caught.value))
        finally:
            client.close()
    assert told[0] == told[1]
    assert not told[0].startswith(("ERROR", "FATAL"))


def test_batches_read_every_row_in_order_through_a_cursor(conn: libpq.Connection) -> None:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    batches = list(conn.batches("SELECT n, 'r' || n AS label FROM generate_series(1, 2500) AS n WHERE n > ?",
                                (0,), 1000, named=False))
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert [row for batch in batches for row in batch] == [(n, f"r{n}") for n in range(1, 2501)]
    named = next(conn.batches("SELECT 5 AS five", (), 10, named=True))
    assert named[0]["five"] == 5
    conn.execute("COMMIT")


def test_the_url_s_parameters_win_over_agiflow_s(postgres_url: PostgresUrl) -> None:
    separator = "&" if "?" in postgres_url.url else "?"
    mine = PostgresUrl(f"{postgres_url.url}{separator}application_name=mine")
    with contextlib.closing(libpq.open_connection(mine, "agiflow report")) as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("mine",)
    with contextlib.closing(libpq.open_connection(postgres_url, "agiflow report")) as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("agiflow report",)
        assert conn.execute("SHOW client_encoding").fetchone() == ("UTF8",)


def test_a_server_that_is_not_there_is_one_line_in_bounded_time() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(libpq.PostgresError) as caught:
        libpq.open_connection(PostgresUrl(f"postgresql://postgres@127.0.0.1:{port}/none"), "agiflow")
    assert "refused" in str(caught.value) and "\n" not in str(caught.value)


def test_a_closed_connection_says_so(postgres_url: PostgresUrl) -> None:
    conn = libpq.open_connection(postgres_url, "agiflow")
    conn.close()
    conn.close()
    with pytest.raises(libpq.PostgresError, match="closed"):
        conn.execute("SELECT 1")



CANCELLED = """
import signal, sys, time
# as in a terminal: a test runner started in the background passes SIGINT ignored
signal.signal(signal.SIGINT, signal.default_int_handler)
from agi.db import libpq
from agi.db.location import PostgresUrl
conn = libpq.open_connection(PostgresUrl(sys.argv[1]), "agiflow ctrl-c")
print("ready", flush=True)
try:
    conn.execute("SELECT pg_sleep(60)")
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_ctrl_c_stops_a_long_statement_at_once_and_the_server_cancels_it(postgres_url: PostgresUrl,
                                                                         conn: libpq.Connection) -> None:
    process = subprocess.Popen([sys.executable, "-c", CANCELLED, postgres_url.url], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    running = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'agiflow ctrl-c' AND state = 'active'"
    _until(lambda: conn.execute(running).fetchone() == (1,))
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.stdout.readline() == "interrupted\n"
    assert process.wait(timeout=20) == 0
    assert time.monotonic() - started < 10  # not the statement's 60 s
    _until(lambda: conn.execute(running).fetchone() == (0,))


def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def _backend(conn: libpq.Connection) -> int:
    return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def test_a_kept_connection_is_the_next_one_of_its_url_and_takes_its_name(postgres_url: PostgresUrl) -> None:
    checked = libpq.open_connection(postgres_url, "agiflow")
    pid = _backend(checked)
    libpq.keep(checked)
    with contextlib.closing(libpq.open_connection(postgres_url, "agiflow report")) as conn:
        assert _backend(conn) == pid
        assert conn.execute("SHOW application_name").fetchone() == ("agiflow report",)
    with contextlib.closing(libpq.open_connection(postgres_url, "agiflow report")) as conn:
        assert _backend(conn) != pid  # taken once


def test_a_kept_connection_keeps_the_url_s_name(postgres_url: PostgresUrl) -> None:
    separator = "&" if "?" in postgres_url.url else "?"
    mine = PostgresUrl(f"{postgres_url.url}{separator}application_name=mine")
    libpq.keep(libpq.open_connection(mine, "agiflow"))
    with contextlib.closing(libpq.open_connection(mine, "agiflow report")) as conn:
        assert conn.execute("SHOW application_name").fetchone() == ("mine",)


def test_a_kept_connection_in_a_transaction_or_closed_is_not_handed_on(postgres_url: PostgresUrl) -> None:
    busy = libpq.open_connection(postgres_url, "agiflow")
    busy.execute("BEGIN")
    pid = _backend(busy)
    libpq.keep(busy)
    with contextlib.closing(libpq.open_connection(postgres_url, "agiflow")) as conn:
        assert _backend(conn) != pid
        assert conn.execute("SELECT 1").fetchone() == (1,)
    closed = libpq.open_connection(postgres_url, "agiflow")
    closed.close()
    libpq.keep(closed)
    with contextlib.closing(libpq.open_connection(postgres_url, "agiflow")) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)
