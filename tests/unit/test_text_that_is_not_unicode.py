"""Text that is not valid Unicode: a lone surrogate, as a JSON ``"\\ud800"``
escape (a webhook's answer) or an undecodable command-line byte gives it.
It can never be sent to Asterisk as it is, and it never costs a CDR row."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agi.protocol.wire import CommandError, encode_command
from agi.db.caps import valid_text
from agi.storage.cdr_direct import DirectCdr
from agi.storage.cdr_writer import CdrStore
from agi.vocabulary import as_json

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
