"""A batch of many calls goes to the database in a few multi-row inserts
(one step of SQLite's for up to 64 rows, so the writer thread hands the
GIL back to the reactor once per statement, not once per row), on either
backend, with the same rows, order and values as one insert a row, and a
bad row still dropped alone."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agi.storage.cdr_batch import apply_batch
from agi.storage.cdr_schema import MAX_PARAMETERS, row_counts
from agi.storage.cdr_writer import CdrStore
from agi.vocabulary import CALL_COLUMNS, STEP_FIELDS, iso
from test_database import row, rows_of


def many_calls(store: CdrStore, calls: int, steps: int) -> None:
    for n in range(calls):
        key = f"call{n:04d}"
        store.call_started({**row(key), "caller": f"6{n:08d}"})
        for seq in range(1, steps + 1):
            store.step_finished(key, {"seq": seq, "step": f"s{seq}", "outcome": "next", "type": "set",
                                      "details": f'{{"n": {n}}}', "duration_ms": seq / 10})
        store.call_ended(key, {"status": "completed", "path": f"p{n}", "ended_at": iso(1_800_000_001)})


def test_a_batch_of_many_calls_is_stored_row_for_row(database: Any) -> None:
    store = CdrStore(database, flush_interval=0.3)
    store.open()
    store.start()
    many_calls(store, 150, 7)
    assert store.close()
    calls = rows_of(database, "SELECT id, caller, status, path FROM calls ORDER BY id")
    assert calls == [(f"call{n:04d}", f"6{n:08d}", "completed", f"p{n}") for n in range(150)]
    steps = rows_of(database, "SELECT call, seq, step, duration_ms, details FROM call_steps ORDER BY id")
    assert steps == [(f"call{n:04d}", seq, f"s{seq}", seq / 10, f'{{"n": {n}}}')
                     for n in range(150) for seq in range(1, 8)]


def test_one_bad_row_among_many_is_dropped_alone(database: Any, caplog: pytest.LogCaptureFixture) -> None:
    store = CdrStore(database, flush_interval=0.3)
    store.open()
    store.start()
    many_calls(store, 40, 2)
    store.call_started({**row("bad"), "call_id": None})  # NOT NULL: this row cannot be inserted
    many_calls(store, 0, 0)
    for seq in (1, 2):
        store.step_finished("call0001", {"seq": seq, "step": "again", "outcome": "next"})  # already stored
    assert store.close()
    assert rows_of(database, "SELECT count(*) FROM calls") == [(40,)]
    assert rows_of(database, "SELECT count(*) FROM call_steps") == [(80,)]
    assert rows_of(database, "SELECT step FROM call_steps WHERE call = 'call0001' ORDER BY seq") == [("s1",), ("s2",)]
    assert "dropping CDR operation insert_call" in caplog.text


def test_rows_go_in_few_statements_within_sqlites_oldest_parameter_limit(tmp_path: Path) -> None:
    statements: list[str] = []
    store = CdrStore(tmp_path / "cdr.db")
    store.open()
    conn = sqlite3.connect(tmp_path / "cdr.db", isolation_level=None)
    for trigger in ("calls_rollup_insert", "call_steps_rollup_insert"):  # the trace repeats a statement per trigger run
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.set_trace_callback(statements.append)
    batch: list[tuple[str, Any]] = []
    for n in range(85):
        batch.append(("insert_call", {**row(f"c{n}")}))
        batch += [("insert_step", (f"c{n}", {"seq": seq, "step": "s", "outcome": "next"})) for seq in (1, 2, 3)]
    conn.execute("BEGIN")
    apply_batch(conn, batch)
    conn.execute("COMMIT")
    inserts = [s for s in statements if s.startswith("INSERT")]
    # 85 calls: 5 x 16 + 1 x 4 + 1 x 1; 255 steps: 3 x 64 + 3 x 16 + 3 x 4 + 3 x 1
    assert len([s for s in inserts if s.startswith("INSERT INTO calls")]) == 7
    assert len([s for s in inserts if s.startswith("INSERT INTO call_steps")]) == 12
    assert conn.execute("SELECT count(*) FROM call_steps").fetchone() == (255,)
    assert max(count * len(CALL_COLUMNS) for count in row_counts(len(CALL_COLUMNS))) <= MAX_PARAMETERS
    assert max(count * len(STEP_FIELDS) for count in row_counts(len(STEP_FIELDS))) <= MAX_PARAMETERS


def test_a_bad_end_of_a_call_is_dropped_alone_and_the_batch_is_written(database: Any,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    store = CdrStore(database, flush_interval=0.01)
    store.open()
    store.start()
    for key in ("a", "b"):
        store.call_started(row(key))
    assert store.close()  # both rows written: their ends are updates
    store = CdrStore(database, flush_interval=0.3)
    store.open()
    store.start()
    store.call_ended("a", {"status": None})  # NOT NULL: this update cannot be applied
    store.call_ended("b", {"status": "completed"})
    store.call_started(row("c"))
    store.call_ended("c", {"status": "completed"})
    assert store.close(stall_timeout=5)
    assert rows_of(database, "SELECT id, status FROM calls ORDER BY id") == [
        ("a", "interrupted"), ("b", "completed"), ("c", "completed")]  # marked at the second open
    assert "dropping CDR operation update_call" in caplog.text


def test_a_call_row_written_again_in_the_batch_that_ends_the_call_gets_its_end(database: Any) -> None:
    """The first row of a call can come again in the batch that ends it: the
    running calls written again into a database file put in place of the old
    one (a copy taken while they ran), a journal replayed after a commit whose
    acknowledgement was lost. The end was merged into that insert, which the
    row already there made a no-op: a call that had ended stayed in progress."""
    store = CdrStore(database, flush_interval=0.01)
    store.open()
    store.start()
    store.call_started(row("a"))
    assert store.close()
    store = CdrStore(database, flush_interval=0.3)
    store.open()  # marks a interrupted: a row with other values than the insert's
    store.start()
    store.call_started(row("a"))  # written again: the row is there
    store.call_ended("a", {"status": "completed", "path": "p"})
    store.call_started(row("b"))
    store.call_ended("b", {"status": "completed", "path": "q"})
    assert store.close()
    assert rows_of(database, "SELECT id, status, path FROM calls ORDER BY id") == [
        ("a", "completed", "p"), ("b", "completed", "q")]
