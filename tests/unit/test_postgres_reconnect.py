"""The stores that keep a PostgreSQL connection per thread (call history,
schedule overrides, supervisors' PINs) after the server ended that
connection while it was idle: a restart, a failover, an idle timeout, an
administrator's pg_terminate_backend. The database answers again, so the
next use must too: it once failed once per thread, and a call then took
the schedule without its override (a night mode forced open was closed),
a caller was taken as new, a supervisor with the right PIN was refused."""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from agi.db import postgres as pg
from agi.db.location import PostgresUrl
from agi.phone import spellings
from agi.services import PIN_OK, HistoryQuery, Override
from agi.storage.history import server_history
from agi.storage.migrations import upgrade
from agi.storage.overrides import server_overrides, writable_overrides
from agi.storage.supervisors import supervisors_store
from agi.vocabulary import iso
from support import table_rows

NOW = datetime.now(timezone.utc).replace(microsecond=0)
NUMBER = "+34600111222"


def end_connection_of(store: Any, url: PostgresUrl) -> None:
    """End, from the server's side, the connection ``store`` keeps for this thread."""
    pid = store._conns.get().raw.info.backend_pid
    with contextlib.closing(pg.connect(url)) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


def test_call_history_reads_again_after_its_connection_was_ended(postgres_url: PostgresUrl) -> None:
    upgrade(postgres_url)
    table_rows.insert(postgres_url, "calls", [{"id": "r1", "call_id": "c1", "caller": NUMBER, "status": "completed",
                                               "started_at": iso((NOW - timedelta(hours=1)).timestamp())}])
    history = server_history(postgres_url)
    query = HistoryQuery(spellings(NUMBER, "ES"), NOW - timedelta(days=7), NOW, "this-call", 2.0)
    assert history.summary(query).calls == 1
    end_connection_of(history, postgres_url)
    assert history.summary(query).calls == 1


def test_overrides_are_read_and_set_again_after_their_connection_was_ended(postgres_url: PostgresUrl) -> None:
    upgrade(postgres_url)
    writable_overrides(postgres_url).set(Override("office_hours", "open", NOW + timedelta(hours=2), "drill", NOW),
                                         NOW)
    overrides = server_overrides(postgres_url)
    assert overrides.active("office_hours", NOW) is not None
    end_connection_of(overrides, postgres_url)
    found = overrides.active("office_hours", NOW)
    assert found is not None and found.state == "open"
    end_connection_of(overrides, postgres_url)
    overrides.set(Override("office_hours", "closed", NOW + timedelta(hours=1), "night", NOW), NOW)
    assert overrides.active("office_hours", NOW).state == "closed"  # type: ignore[union-attr]


def test_a_pin_is_checked_again_after_the_connection_was_ended(postgres_url: PostgresUrl) -> None:
    upgrade(postgres_url)
    supervisors = supervisors_store(postgres_url)
    supervisors.set_pin(NUMBER, "4321", NOW, "ana")
    end_connection_of(supervisors, postgres_url)
    assert supervisors.check_pin(NUMBER, "4321", NOW, "1.1").result == PIN_OK
    end_connection_of(supervisors, postgres_url)
    supervisors.audit(NUMBER, "supervise", "ok", NOW, "1.1", "PJSIP/201: listen 3s")
    assert [row["action"] for row in supervisors.audit_log()] == ["set_pin", "pin", "supervise"]


@pytest.mark.parametrize("fail", ["refused"])
def test_a_database_that_stays_down_still_fails_at_once(fail: str) -> None:
    """The one retry is for a connection that died while idle, not for a
    server that does not answer: that still fails closed, once."""
    from agi.services import SupervisorsUnavailable
    url = PostgresUrl("postgresql://postgres@127.0.0.1:1/agiflow?connect_timeout=2")
    with pytest.raises(SupervisorsUnavailable):
        supervisors_store(url).check_pin(NUMBER, "4321", NOW, "1.1")


def test_the_cdr_writer_writes_on_after_its_connection_was_ended_without_an_error(
        postgres_url: PostgresUrl, caplog: pytest.LogCaptureFixture) -> None:
    """A connection ended while idle failed the next batch: 'cannot write
    CDRs' at ERROR, the batch moved to the journal and back, and
    agiflow_cdr_write_errors_total counted (a critical alert) for a
    database that answered all along."""
    import logging
    import time

    from agi.storage.cdr_writer import CdrStore
    from agi.storage.connections import writer_connector

    upgrade(postgres_url)
    opened: list[Any] = []
    connect = writer_connector(postgres_url, 5.0)

    def connector(path: str) -> Any:
        opened.append(connect(path))
        return opened[-1]

    store = CdrStore(postgres_url, retry_delay=0.05, flush_interval=0.01, connector=connector)
    store.open()
    store.start()

    def write(key: str) -> None:
        store.call_started({"id": key, "call_id": f"1795385106.{key}", "started_at": iso(1_800_000_000),
                            "status": "in_progress", "path": "answer:next"})
        store.call_ended(key, {"status": "completed"})
        deadline = time.monotonic() + 5
        while store.pending:
            assert time.monotonic() < deadline
            time.sleep(0.02)

    try:
        write("a")
        with contextlib.closing(pg.connect(postgres_url)) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (opened[-1].raw.info.backend_pid,))
        with caplog.at_level(logging.WARNING):
            write("b")
        assert store.failures == 0 and "cannot write CDRs" not in caplog.text, caplog.text
    finally:
        assert store.close(stall_timeout=5)
    assert {row["call_id"] for row in table_rows.select(postgres_url, "SELECT call_id FROM calls")} == {
        "1795385106.a", "1795385106.b"}


def test_db_rollups_whose_connection_the_server_ends_says_why(postgres_url: PostgresUrl,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The roll's transaction ended by the server (a restart,
    pg_terminate_backend): its ROLLBACK on the broken connection raised
    `the connection is closed` in place of the error that said what happened.
    So did every other store's rollback of a transaction (list changes,
    migrations, db copy, callback claims)."""
    from click.testing import CliRunner

    from agi.cli.main import cli
    from agi.storage import rollups
    from support.cdr_builder import CdrBuilder
    builder = CdrBuilder(postgres_url)
    builder.add("2025-03-10 09:00:00")
    builder.close()
    roll = rollups.roll

    class EndedInItsTransaction:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def __getattr__(self, name: str) -> Any:
            return getattr(self.conn, name)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == rollups.READ_STATE:
                with contextlib.closing(pg.connect(postgres_url)) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (self.conn.raw.info.backend_pid,))
            return self.conn.execute(sql, *args)
    monkeypatch.setattr(rollups, "roll", lambda conn, *args, **kwargs: roll(EndedInItsTransaction(conn), *args,
                                                                            **kwargs))
    result = CliRunner().invoke(cli, ["db", "rollups", "--database", postgres_url.url])
    assert result.exit_code == 1, result.output
    assert "terminating connection due to administrator command" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
