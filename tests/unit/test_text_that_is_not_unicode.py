"""Text that is not valid Unicode: a lone surrogate, as a JSON ``"\\ud800"``
escape (a webhook's answer) or an undecodable command-line byte gives it.
It can never be sent to Asterisk as it is, and it never costs a CDR row."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from agi.db.caps import valid_text
from agi.db.location import PostgresUrl
from agi.protocol.wire import CommandError, encode_command
from agi.services import Override
from agi.storage.callbacks import INSERT_OPERATION, callback_values
from agi.storage.cdr_direct import DirectCdr
from agi.storage.cdr_writer import CdrStore
from agi.storage.migrations import upgrade
from agi.storage.overrides import server_overrides, writable_overrides
from agi.vocabulary import as_json
from test_database import rows_of

LONE = "x\ud800y"


def rows(database: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(database) as conn:
        return list(conn.execute("SELECT id, caller, fields FROM calls ORDER BY id"))


def details(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [text for (text,) in conn.execute("SELECT details FROM call_steps ORDER BY call")]


def a_call(sink: CdrStore | DirectCdr, key: str, text: str) -> None:
    sink.call_started({"id": key, "call_id": key, "flow": "f", "caller": text,
                       "started_at": "2026-01-01T00:00:00Z", "status": "in_progress"})
    sink.step_finished(key, {"seq": 1, "flow": "f", "step": "hook", "type": "webhook", "outcome": "next",
                             "started_at": "2026-01-01T00:00:00Z", "duration_ms": 1.0,
                             "details": as_json({"answer": text})})
    sink.call_ended(key, {"status": "completed", "ended_at": "2026-01-01T00:00:01Z",
                          "fields": as_json({"name": text})})


def test_a_command_argument_that_is_not_unicode_is_refused_not_sent() -> None:
    with pytest.raises(CommandError, match="not valid Unicode"):
        encode_command("SET VARIABLE", "NAME", LONE)


def test_valid_text_replaces_lone_surrogates_through_nested_values() -> None:
    assert valid_text({"a": [LONE, (LONE, 1)], "b": None}) == {"a": ["x\ufffdy", ("x\ufffdy", 1)], "b": None}
    assert valid_text("plain ñ") == "plain ñ"


def test_the_cdr_writer_keeps_a_call_whose_text_is_not_unicode_and_the_calls_beside_it(tmp_path: Path) -> None:
    store = CdrStore(tmp_path / "cdr.db")
    store.open()
    store.start()
    a_call(store, "a", "+34600111222")
    a_call(store, "b", LONE)
    a_call(store, "c", "+34600333444")
    assert store.close()
    got = rows(tmp_path / "cdr.db")
    assert [(key, caller) for key, caller, _ in got] == [("a", "+34600111222"), ("b", "x\ufffdy"),
                                                         ("c", "+34600333444")]
    assert got[1][2] == '{"name": "x\ufffdy"}'
    assert sorted(details(tmp_path / "cdr.db"))[0] == '{"answer": "+34600111222"}'
    assert '{"answer": "x\ufffdy"}' in details(tmp_path / "cdr.db")


def test_the_plain_agi_writer_keeps_a_call_whose_text_is_not_unicode(tmp_path: Path) -> None:
    sink = DirectCdr(tmp_path / "cdr.db")
    sink.open()
    a_call(sink, "b", LONE)
    assert sink.close()
    assert rows(tmp_path / "cdr.db") == [("b", "x\ufffdy", '{"name": "x\ufffdy"}')]
    assert details(tmp_path / "cdr.db") == ['{"answer": "x\ufffdy"}']


# -- a NUL: PostgreSQL refuses it in text -----------------------------------------------

#: A NUL a flow put in its text: ``?why=a%00b`` in the AGI URL gives
#: ``params.why``, ``"\u0000"`` in a webhook's JSON gives a variable.
NUL = "a\x00b"


def a_requested_callback(sink: CdrStore | DirectCdr, key: str) -> None:
    """A call whose caller was told the request was stored, with a reason
    and a queue from the flow's templates."""
    a_call(sink, key, NUL)
    sink.submit(INSERT_OPERATION, callback_values({
        "requested_at": "2026-01-01T00:00:01Z", "call_id": key, "flow": "f", "caller": "+34600111222",
        "number": "+34600111222", "raw_number": "600111222", "queue": NUL, "reason": NUL, "source": "keypad"}))


def test_a_nul_a_flow_put_in_its_text_costs_no_row_on_either_database(
        database: Any, caplog: pytest.LogCaptureFixture) -> None:
    """On PostgreSQL the callback request, the call's row and its step were
    dropped with a traceback: the caller heard the request was taken."""
    store = CdrStore(database)
    store.open()
    store.start()
    a_requested_callback(store, "b")
    a_call(store, "c", "+34600333444")
    assert store.close()
    kept = "a\ufffdb" if isinstance(database, PostgresUrl) else NUL  # SQLite stores a NUL as it is
    assert rows_of(database, "SELECT id, caller FROM calls ORDER BY id") == [("b", kept), ("c", "+34600333444")]
    assert rows_of(database, "SELECT call, details FROM call_steps ORDER BY call") == [
        ("b", '{"answer": "a\\u0000b"}'), ("c", '{"answer": "+34600333444"}')]
    assert rows_of(database, "SELECT call_id, queue, reason FROM callbacks") == [("b", kept, kept)]
    assert "dropping CDR operation" not in caplog.text


def test_the_plain_agi_writer_keeps_a_nul_a_flow_put_in_its_text_on_either_database(database: Any) -> None:
    sink = DirectCdr(database)
    sink.open()
    a_requested_callback(sink, "b")
    assert sink.close()
    kept = "a\ufffdb" if isinstance(database, PostgresUrl) else NUL
    assert rows_of(database, "SELECT id, caller FROM calls") == [("b", kept)]
    assert rows_of(database, "SELECT call_id, queue, reason FROM callbacks") == [("b", kept, kept)]


def test_an_override_whose_templated_reason_holds_a_nul_is_made_on_either_database(database: Any) -> None:
    """On PostgreSQL the supervisor was told the database could not be used."""
    upgrade(database)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    writable_overrides(database).set(Override("office", "open", now + timedelta(hours=1), NUL), now)
    override = server_overrides(database).active("office", now)
    assert override is not None and override.state == "open"
    assert override.reason == ("a\ufffdb" if isinstance(database, PostgresUrl) else NUL)
