"""Earlier calls read from the CDR database, on both backends: one indexed
statement, every spelling of the number, the window, pending callbacks, and
a bounded wait; and, for ``agiflow serve``, off the reactor thread."""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
import sqlite_utils
from click.testing import CliRunner
from twisted.internet import defer

from agi.cli.main import cli
from agi.db import postgres as pg
from agi.db.location import Database, PostgresUrl, parse_database
from agi.phone import spellings
from agi.server.database_threads import ThreadedHistory
from agi.services import CallHistorySummary, HistoryQuery, HistoryUnavailable
from agi.sim.transport import run_sync
from agi.storage.cdr_schema import ensure_schema
from agi.storage.history import SELECT_HISTORY, SqliteCallHistory, query_parameters, server_history, \
    simulation_history
from agi.storage.migrations import upgrade
from agi.vocabulary import iso
from support import table_rows
from support.held_lock import hold_lock
from support.held_pool import HeldReactor, held_threads, server_services

NOW = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)
NUMBER = "+34600111222"


def query(window: timedelta = timedelta(days=7), exclude: str = "this-call", timeout: float = 1.0) -> HistoryQuery:
    return HistoryQuery(spellings(NUMBER, "ES"), NOW - window, NOW, exclude, timeout)


@pytest.fixture
def calls(database: Database) -> Callable[..., Database]:
    """Adds a call to the ``database`` fixture's database (either backend); returns it."""
    upgrade(database)
    count = 0

    def add(caller: str, ago: timedelta, **columns: Any) -> Database:
        nonlocal count
        count += 1
        table_rows.insert(database, "calls", [{
            "id": f"row{count}", "call_id": columns.pop("call_id", f"call{count}"), "caller": caller,
            "started_at": iso((NOW - ago).timestamp()), "status": columns.pop("status", "completed"), **columns}])
        return database
    return add


def test_calls_from_every_spelling_of_the_number_are_counted(calls: Callable[..., Database]) -> None:
    calls("600111222", timedelta(days=3), queue="sales", queue_status="ANSWERED")
    calls("0034600111222", timedelta(days=2))
    calls("34600111222", timedelta(days=1, hours=1))
    database = calls("+34600111222", timedelta(hours=3), queue="support", queue_status="ABANDONED",
                     agent="Ana", agent_interface="PJSIP/201", status="caller_hangup")
    calls("+34600999999", timedelta(hours=1))
    found = server_history(database).summary(query())
    assert found.calls == 4
    assert found.first_call == "2025-03-07T08:30:00.000Z"
    last = found.last
    assert last is not None
    assert (last.started_at, last.queue, last.outcome, last.agent, last.agent_interface, last.status) == \
        ("2025-03-10T05:30:00.000Z", "support", "abandoned", "Ana", "PJSIP/201", "caller_hangup")


def test_the_window_and_the_call_itself_are_left_out(calls: Callable[..., Database]) -> None:
    calls(NUMBER, timedelta(days=8))
    calls(NUMBER, timedelta(seconds=0), call_id="this-call")
    database = calls(NUMBER, timedelta(minutes=-5))  # later than the moment asked about
    assert server_history(database).summary(query()) == CallHistorySummary()
    assert server_history(database).summary(query(timedelta(days=9))).calls == 1


def test_a_pending_callback_request_of_the_number_is_found(calls: Callable[..., Database]) -> None:
    database = calls("+34699999999", timedelta(days=1))
    table_rows.insert(database, "callbacks", [{"requested_at": "2025-03-09T10:00:00.000Z", "number": NUMBER,
                                               "status": "done"}])
    assert server_history(database).summary(query()).callback_pending is False
    table_rows.insert(database, "callbacks", [{"requested_at": "2025-03-09T11:00:00.000Z", "number": NUMBER,
                                               "status": "pending"}])
    found = server_history(database).summary(query())
    assert (found.calls, found.callback_pending) == (0, True)


def test_calls_are_counted_up_to_a_thousand(calls: Callable[..., Database]) -> None:
    database = calls(NUMBER, timedelta(days=1))
    table_rows.insert(database, "calls", ({"id": f"many{i}", "call_id": f"m{i}", "caller": NUMBER,
                                           "status": "completed",
                                           "started_at": iso((NOW - timedelta(seconds=i + 1)).timestamp())}
                                          for i in range(1200)))
    found = server_history(database).summary(query())
    assert found.calls == 1000 and found.last is not None
    assert found.last.started_at == iso((NOW - timedelta(seconds=1)).timestamp())


@pytest.mark.sqlite_only
def test_the_lookup_is_one_search_of_the_caller_index(calls: Callable[..., Database]) -> None:
    path = calls(NUMBER, timedelta(days=1))
    with sqlite3.connect(path) as conn:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + SELECT_HISTORY, query_parameters(query()))]
    assert any("SEARCH calls USING INDEX idx_calls_caller_started" in step for step in plan), plan
    assert any("SEARCH callbacks USING COVERING INDEX" in step for step in plan), plan
    assert not any(step.startswith("SCAN calls") for step in plan), plan


@pytest.mark.sqlite_only
def test_a_lookup_past_its_timeout_is_stopped(calls: Callable[..., Database]) -> None:
    path = calls(NUMBER, timedelta(days=1))
    db = sqlite_utils.Database(path)
    db["calls"].insert_all({"id": f"many{i}", "call_id": f"m{i}", "caller": NUMBER, "status": "completed",
                            "started_at": iso((NOW - timedelta(seconds=i + 1)).timestamp())} for i in range(5000))
    history = SqliteCallHistory(Path(path))
    with pytest.raises(HistoryUnavailable, match="no answer within 1e-06 s"):
        history.summary(query(timeout=0.000001))
    assert history.summary(query()).calls == 1000  # counted up to 1000; the connection still works


def hold_exclusive(path: Path, seconds: float) -> threading.Thread:
    """Another connection holding the SQLite file's exclusive lock, which
    keeps readers out of a database in rollback-journal mode, for ``seconds``."""
    return hold_lock(path, seconds, sqlite_begin="BEGIN EXCLUSIVE")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_lock_shorter_than_the_steps_timeout_is_waited_for_not_taken_for_a_new_caller(
        calls: Callable[..., Database]) -> None:
    """A lookup waits for a lock up to the step's ``timeout``, which it is
    documented to take at most (it once gave up after 0.2 s whatever the
    timeout, and the caller was taken as new)."""
    path = Path(calls(NUMBER, timedelta(days=1)))
    with contextlib.closing(sqlite3.connect(str(path))) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    history = server_history(path)
    holder = hold_exclusive(path, 0.6)
    started = time.monotonic()
    try:
        assert history.summary(query(timeout=2.0)).calls == 1
        waited = time.monotonic() - started
    finally:
        holder.join()
    assert 0.4 < waited < 2.0
    holder = hold_exclusive(path, 1.5)
    started = time.monotonic()
    try:
        with pytest.raises(HistoryUnavailable, match="locked"):
            history.summary(query(timeout=0.5))  # never longer than the timeout
        waited = time.monotonic() - started
    finally:
        holder.join()
    assert 0.4 < waited < 1.0


def test_a_lookup_held_up_past_its_timeout_is_stopped_on_postgresql(postgres_url: PostgresUrl) -> None:
    upgrade(postgres_url)
    table_rows.insert(postgres_url, "calls", [{"id": "r1", "call_id": "c1", "caller": NUMBER, "status": "completed",
                                               "started_at": iso((NOW - timedelta(days=1)).timestamp())}])
    history = server_history(postgres_url)
    with contextlib.closing(pg.connect(postgres_url, autocommit=False)) as locker:
        locker.execute("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")  # held until the rollback
        started = time.monotonic()
        with pytest.raises(HistoryUnavailable, match="no answer within 0.2 s"):
            history.summary(query(timeout=0.2))
        assert time.monotonic() - started < 2
        locker.rollback()
    assert history.summary(query()).calls == 1  # the next lookup reconnects


def test_a_stopped_postgresql_is_unavailable_at_once() -> None:
    history = server_history(parse_database("postgresql://agiflow@127.0.0.1:1/none?connect_timeout=1"))
    with pytest.raises(HistoryUnavailable, match="cannot read earlier calls from postgresql://"):
        history.summary(query())


def test_a_missing_database_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(HistoryUnavailable, match="does not exist"):
        SqliteCallHistory(tmp_path / "none.db").summary(query())


def test_a_simulation_without_a_database_takes_every_caller_as_new(tmp_path: Path) -> None:
    """steps.md: ``agiflow simulate`` reads earlier calls only when the
    database exists, else every caller is new. Without one the step took it
    as a failed lookup: ``error`` with ``on_error: error``, the CDR's
    ``history`` ``error``, and a warning."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "memory.yaml").write_text(
        "version: 1\nname: memory\nstart: memory\nsteps:\n  memory:\n    history: {on_error: error}\n"
        "    on: {new: bye, returning: bye, repeat: bye, abandoned_recently: bye, error: bye}\n"
        "  bye:\n    hangup:\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text(f"flows: flows\ndatabase: {tmp_path / 'none.db'}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", "memory", "--caller", "600111222", "--format", "json",
                                      "-c", str(tmp_path / "config.yaml")])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["cdr"]["path"] == "memory:new > bye:done" and found["cdr"]["history"] == "new"
    assert "not read" not in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_a_database_without_the_caller_index_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    ensure_schema(db)
    db.execute("DROP INDEX idx_calls_caller_started")
    with pytest.raises(HistoryUnavailable, match="no such index"):
        SqliteCallHistory(path).summary(query())


def test_the_simulation_reads_the_database_without_writing(calls: Callable[..., Database]) -> None:
    database = calls(NUMBER, timedelta(days=1))
    history = simulation_history(database)
    assert history is not None and run_sync(history.lookup(query())).calls == 1


# -- agiflow serve: in a thread, with a timeout -----------------------------------------

class _Reader:
    def __init__(self) -> None:
        self.threads: list[HistoryQuery] = []

    def summary(self, query: HistoryQuery) -> CallHistorySummary:
        self.threads.append(query)
        return CallHistorySummary(calls=3)


def test_the_server_reads_history_in_a_thread_not_on_the_reactor() -> None:
    reactor, reader = HeldReactor(), _Reader()
    looking = defer.Deferred.fromCoroutine(ThreadedHistory(reader, held_threads(reactor)).lookup(query()))
    assert reader.threads == [] and not looking.called  # handed to the pool, the reactor goes on
    reactor.pool.run_all()
    assert looking.result.calls == 3


def test_the_server_gives_up_on_a_lookup_after_its_timeout() -> None:
    reactor = HeldReactor()
    looking = defer.Deferred.fromCoroutine(ThreadedHistory(_Reader(), held_threads(reactor)).lookup(query(timeout=0.5)))
    reactor.advance(0.49)
    assert not looking.called
    reactor.advance(0.02)
    failure = looking.result
    looking.addErrback(lambda _: None)
    assert failure.check(HistoryUnavailable) and "within 0.5s" in str(failure.value)


def test_a_failing_thread_is_a_history_unavailable() -> None:
    reactor = HeldReactor()

    class Broken:
        def summary(self, query: HistoryQuery) -> CallHistorySummary:
            raise HistoryUnavailable("database is locked")

    looking = defer.Deferred.fromCoroutine(ThreadedHistory(Broken(), held_threads(reactor)).lookup(query()))
    reactor.pool.run_all()
    failure = looking.result
    looking.addErrback(lambda _: None)
    assert failure.check(HistoryUnavailable)


def test_the_server_wraps_its_database_history_in_threads(tmp_path: Path) -> None:
    with server_services(tmp_path / "cdr.db") as services:
        assert isinstance(services.history, ThreadedHistory)
