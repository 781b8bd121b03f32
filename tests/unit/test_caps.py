"""Every stored text field has a cap (docs/cdr.md): a peer that sends huge
names, arguments or replies cannot grow a row, the writer's queue or the
database beyond it, and JSON columns stay valid JSON."""
from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from agi.lists.admin import ListAdmin
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.loading.loader import load_flows
from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.storage.callbacks import MemoryCallbackRequests
from agi.db.caps import CAPS, JSON_STRING, JSON_TEXT, TEXT, cap_row, cap_text, capped_json
from agi.storage.cdr_memory import MemoryCdr

SHIPPED_FLOWS = Path(__file__).resolve().parents[2] / "flows"
BIG = "x" * 60_000


def test_a_value_over_its_cap_is_cut_to_exactly_the_cap_ending_with_an_ellipsis() -> None:
    assert cap_text("abc", 3) == "abc"
    assert cap_text("abcd", 3) == "ab\u2026"
    row = cap_row({"caller": BIG, "path": BIG, "requested_flow": BIG, "steps": 3, "vip": None})
    assert {k: len(v) if isinstance(v, str) else v for k, v in row.items()} == {
        "caller": TEXT, "path": CAPS["path"], "requested_flow": CAPS["requested_flow"], "steps": 3, "vip": None}


@pytest.mark.parametrize("value", [
    [BIG] * 300, {f"k{n}": BIG for n in range(300)}, {"entries": [BIG] * 50, "timeouts": 2}, [[BIG]] * 20,
    {"a": {"b": BIG}}, BIG,
])
def test_a_json_column_stays_valid_json_within_its_caps(value: object) -> None:
    text = capped_json(value)
    assert len(text) <= JSON_TEXT
    decoded = json.loads(text)
    strings: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, dict):
            strings.extend(map(str, node))
            list(map(walk, node.values()))
        elif isinstance(node, list):
            list(map(walk, node))
    walk(decoded)
    assert max(map(len, strings)) <= JSON_STRING
    assert sqlite3.connect(":memory:").execute("SELECT json_valid(?)", (text,)).fetchone() == (1,)


def test_a_small_json_value_is_written_as_it_is() -> None:
    assert capped_json({"entries": ["1", ""], "timeouts": 1}) == '{"entries": ["1", ""], "timeouts": 1}'


def test_an_unknown_flow_call_with_huge_names_and_arguments_stores_capped_values() -> None:
    flows, errors = load_flows([SHIPPED_FLOWS])
    assert errors == []
    big = "x" * 12_000  # five of them: the environment stays within its 65,536 characters
    env = make_environment(big, uniqueid="1795385106.1", callerid="6" * 300, calleridname=big, channel=big,
                           **{f"arg_{n}": "y" * 900 for n in range(1, 15)})
    transport = SimTransport(SimulatedAsterisk(env, CallerScript(sounds=EverySound())))
    cdr = MemoryCdr()
    run_sync(run_session(transport.environment(), transport, flows, cdr, SessionSettings(), lambda: 1.8e9))
    [row] = cdr.calls.values()
    assert row["status"] == "unknown_flow"
    assert len(row["requested_flow"]) == CAPS["requested_flow"] and len(row["error"]) == CAPS["error"]
    assert len(row["caller_name"]) == len(row["channel"]) == len(row["caller"]) == TEXT
    assert len(row["args"]) <= JSON_TEXT and json.loads(row["args"])[-1] == "\u2026"
    assert sum(len(v) for v in row.values() if isinstance(v, str)) < 16_000


def test_a_callback_request_keeps_capped_text() -> None:
    requests = MemoryCallbackRequests()
    requests.request({"number": "+34600111222", "reason": BIG, "caller": BIG, "queue": "support"})
    [row] = requests.rows
    assert (len(row["reason"]), len(row["caller"]), row["number"]) == (CAPS["reason"], TEXT, "+34600111222")


def test_list_notes_are_capped_when_imported_and_when_added(tmp_path: Path) -> None:
    report = ReadReport()
    [(number, note)] = list(read_entries(io.StringIO(f"number,note\n+34600111222,{'n' * 5000}\n"),
                                         Normaliser("ES"), report))
    assert note is not None and len(note) == CAPS["note"]
    with ListAdmin(tmp_path / "lists.db") as admin:
        admin.add("vip", Normaliser("ES").entry("+34600111223"), "m" * 5000)
        [(_, stored, _)] = list(admin.entries("vip"))
    assert len(stored) == CAPS["note"]


def test_a_note_closing_a_callback_request_is_capped(tmp_path: Path) -> None:
    from agi.storage.callbacks import CallbackBook
    from agi.storage.cdr_writer import CdrStore
    store = CdrStore(tmp_path / "cdr.db")
    store.open()
    conn = sqlite3.connect(tmp_path / "cdr.db")
    with conn:
        conn.execute("INSERT INTO callbacks (requested_at, number, status) VALUES ('2025-03-10T09:00:00.000Z', "
                     "'+34600111222', 'pending')")
    conn.close()
    row = CallbackBook(tmp_path / "cdr.db").close(1, "done", "2025-03-10T10:00:00.000Z", "k" * 5000)
    assert len(row["note"]) == CAPS["note"]
